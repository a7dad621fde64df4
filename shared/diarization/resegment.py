"""Window decisions -> turns on a fine frame grid, inside the VAD's speech only.

Each frame takes the speaker whose centroid the covering windows are, on average, closest to, so a
change falls between window centres (half a hop, 375 ms, instead of a whole window); pauses the VAD
found give exact boundaries. Turns shorter than ``min_turn_ms`` are merged into their longer
neighbour. Overlap runs shorter than ``min_overlap_ms``, or farther than ``overlap_near_change_ms`` from a
change of speaker, are dropped: in conversation two voices overlap where the turn passes (Heldner &
Edlund 2010), while a "mixed" window inside a long turn is more often one voice changing its tone.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.diarization.config import DiarizationConfig
from shared.diarization.overlap import MixFit
from shared.diarization.windows import Window

SINGLE = -1  # `other` of a frame with one voice


@dataclass(frozen=True)
class Turn:
    """[start_ms, end_ms) of one speaker, or of two at once when ``overlap_with`` is set."""

    start_ms: int
    end_ms: int
    speaker: int
    overlap_with: int | None = None

    @property
    def overlap(self) -> bool:
        return self.overlap_with is not None

    @property
    def speakers(self) -> tuple[int, ...]:
        return (self.speaker,) if self.overlap_with is None else (self.speaker, self.overlap_with)


def _runs(values: Sequence[tuple[int, int]]) -> list[list[int]]:
    """[value_index_start, stop) runs of equal consecutive values."""
    runs: list[list[int]] = []
    for i, v in enumerate(values):
        if runs and values[runs[-1][0]] == v:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def _smooth(labels: list[tuple[int, int]], min_frames: int) -> list[tuple[int, int]]:
    """Runs shorter than ``min_frames`` take the label of their longer neighbour (shortest first)."""
    labels = list(labels)
    while True:
        runs = _runs(labels)
        short = [r for r in runs if r[1] - r[0] < min_frames]
        if len(runs) < 2 or not short:
            return labels
        r = min(short, key=lambda x: x[1] - x[0])
        i = runs.index(r)
        left = runs[i - 1] if i > 0 else None
        right = runs[i + 1] if i + 1 < len(runs) else None
        pick = max((n for n in (left, right) if n is not None), key=lambda n: n[1] - n[0])
        value = labels[pick[0]]
        for f in range(r[0], r[1]):
            labels[f] = value


def frame_decisions(start_ms: int, end_ms: int, windows: Sequence[Window], sims: np.ndarray, fit: MixFit,
                    config: DiarizationConfig) -> list[tuple[int, int]]:
    """(speaker, other or SINGLE) of each ``frame_ms`` frame of one speech region."""
    n = max(1, int(np.ceil((end_ms - start_ms) / config.frame_ms)))
    centres = start_ms + (np.arange(n) + 0.5) * config.frame_ms
    starts = np.array([w.start_ms for w in windows])
    ends = np.array([w.end_ms for w in windows])
    out: list[tuple[int, int]] = []
    for c in centres:
        cover = np.flatnonzero((starts <= c) & (c < ends))
        if len(cover) == 0:  # the region's edge beyond its windows: the nearest window decides
            cover = np.array([int(np.argmin(np.minimum(np.abs(starts - c), np.abs(ends - c))))])
        speaker = int(np.argmax(sims[cover].mean(axis=0)))
        other = SINGLE
        if fit.mixed[cover].all():
            pair = Counter(tuple(sorted((int(fit.first[w]), int(fit.second[w])))) for w in cover).most_common(1)[0][0]
            other = pair[1] if pair[0] == speaker else pair[0]
            speaker = pair[0] if other == pair[1] else pair[1]
        out.append((speaker, other))
    return out


def region_turns(start_ms: int, end_ms: int, decisions: list[tuple[int, int]], config: DiarizationConfig
                 ) -> list[Turn]:
    speakers = _smooth([(s, SINGLE) for s, _ in decisions], max(1, config.min_turn_ms // config.frame_ms))
    overlap_runs = _runs([(0, 1 if o != SINGLE else 0) for _, o in decisions])
    frames = list(speakers)
    min_overlap = max(1, config.min_overlap_ms // config.frame_ms)
    changes = [r[0] for r in _runs(speakers)[1:]]
    reach = config.overlap_near_change_ms // config.frame_ms
    for a, b in overlap_runs:
        near = any(a - reach <= c <= b + reach for c in changes)
        if decisions[a][1] != SINGLE and b - a >= min_overlap and near:
            for f in range(a, b):
                s, o = decisions[f]
                frames[f] = (min(s, o), max(s, o))
    turns = []
    for a, b in _runs(frames):
        speaker, other = frames[a]
        turns.append(Turn(start_ms + a * config.frame_ms, min(end_ms, start_ms + b * config.frame_ms), speaker,
                          None if other == SINGLE else other))
    return [t for t in turns if t.end_ms > t.start_ms]


def resegment(regions_ms: Sequence[tuple[int, int]], windows: Sequence[Window], sims: np.ndarray, fit: MixFit,
              config: DiarizationConfig) -> list[Turn]:
    """Turns over every speech region that has a window within it or touching it."""
    turns: list[Turn] = []
    for start, end in sorted(regions_ms):
        mine = [i for i, w in enumerate(windows) if w.start_ms < end and w.end_ms > start]
        if not mine:
            continue  # too short to embed: left out rather than guessed
        sub = MixFit(fit.mixed[mine], fit.first[mine], fit.second[mine])
        decisions = frame_decisions(start, end, [windows[i] for i in mine], sims[mine], sub, config)
        turns += region_turns(start, end, decisions, config)
    return turns
