"""Mono conversations with known truth, for the diarization benchmark and tests.

Two (or more) speakers take turns of a few utterances each. Between turns there is either a pause
or an overlap: the next speaker starts before the last one stops (every other change, more if needed). Overlaps are sized so that about
``overlap_ratio`` of the speech time is overlapped (each capped at half the shorter utterance, what a
capped one cannot take going to the others).
Every utterance is levelled to ``level_dbfs`` RMS (plus a fixed per-speaker offset), so the
loudness alone does not give the speaker away.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.audio.loudness import rms_normalize
from shared.errors import InvalidInput

RATE = 16000


@dataclass(frozen=True)
class Utterance:
    speaker: str
    samples: np.ndarray
    label: str = ""
    source: str = ""


@dataclass(frozen=True)
class Placed:
    """One utterance in the mix: [start_ms, end_ms)."""

    speaker: str
    start_ms: int
    end_ms: int
    label: str
    source: str


@dataclass(frozen=True)
class Mix:
    samples: np.ndarray
    truth: tuple[Placed, ...]

    @property
    def duration_ms(self) -> int:
        return 1000 * len(self.samples) // RATE


def overlapped_ms(truth: Sequence[Placed]) -> tuple[int, int]:
    """(ms with two or more speakers, ms with any speech) of a truth list, on a 1 ms grid."""
    end = max((p.end_ms for p in truth), default=0)
    count = np.zeros(end + 1, dtype=np.int32)
    for p in truth:
        count[p.start_ms : p.end_ms] += 1
    return int((count > 1).sum()), int((count > 0).sum())


def fill(caps: dict[int, float], total: float) -> dict[int, float]:
    """``total`` shared as evenly as the caps allow (water-filling)."""
    out, left, open_ = {}, total, sorted(caps, key=caps.get)
    while open_:
        share = left / len(open_)
        i = open_.pop(0)
        out[i] = min(caps[i], share)
        left -= out[i]
    return out


def build_mix(turns: Sequence[Sequence[Utterance]], *, overlap_ratio: float = 0.10, seed: int = 0,
              level_dbfs: float = -26.0, speaker_offsets_db: dict[str, float] | None = None,
              gap_s: tuple[float, float] = (0.15, 0.35), pause_s: tuple[float, float] = (0.3, 0.8),
              lead_s: float = 0.5) -> Mix:
    """``turns``: the utterances of each turn, in order; consecutive turns must change speaker.
    Every other speaker change overlaps (the rest are pauses); more changes overlap when the caps
    leave those short of ``overlap_ratio``."""
    if not turns or any(not t for t in turns):
        raise InvalidInput("every turn needs at least one utterance")
    if not 0.0 <= overlap_ratio < 0.5:
        raise InvalidInput(f"overlap_ratio must be in [0, 0.5), got {overlap_ratio}")
    rng = np.random.default_rng(seed)
    offsets = speaker_offsets_db or {}
    speech_s = sum(len(u.samples) for t in turns for u in t) / RATE
    target_s = overlap_ratio * speech_s / (1 + overlap_ratio)  # overlap / (speech - overlap) = ratio
    changes = sorted(range(1, len(turns)), key=lambda i: (i % 2 == 0, i))  # every other change first
    cap = {i: 0.5 * min(len(turns[i][0].samples), len(turns[i - 1][-1].samples)) / RATE for i in changes}
    overlapping: list[int] = []
    for i in changes:
        if target_s <= 0 or sum(cap[j] for j in overlapping) >= target_s:
            break
        overlapping.append(i)
    overlap_s = fill({i: cap[i] for i in overlapping}, target_s)
    pieces: list[tuple[int, np.ndarray, Utterance]] = []
    cursor = int(lead_s * RATE)
    for i, turn in enumerate(turns):
        if i > 0:
            if turn[0].speaker == turns[i - 1][0].speaker:
                raise InvalidInput(f"turn {i} has the same speaker as turn {i - 1}")
            if i in overlapping:
                cursor -= int(overlap_s[i] * RATE)
            else:
                cursor += int(rng.uniform(*pause_s) * RATE)
        for j, u in enumerate(turn):
            if j > 0:
                cursor += int(rng.uniform(*gap_s) * RATE)
            x = rms_normalize(u.samples, level_dbfs + offsets.get(u.speaker, 0.0))
            pieces.append((cursor, x, u))
            cursor += len(x)
    total = max(start + len(x) for start, x, _ in pieces) + int(lead_s * RATE)
    out = np.zeros(total, dtype=np.float32)
    truth = []
    for start, x, u in pieces:
        out[start : start + len(x)] += x
        truth.append(Placed(u.speaker, 1000 * start // RATE, 1000 * (start + len(x)) // RATE, u.label, u.source))
    return Mix(np.clip(out, -1.0, 1.0), tuple(truth))
