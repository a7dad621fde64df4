"""Diarize one 16 kHz channel given its speech regions: embed windows, count and cluster speakers,
mark overlap, resegment into turns. Speakers are numbered by first appearance (0 spoke first)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from shared.diarization.clustering import centroids, cluster, refine
from shared.diarization.config import DiarizationConfig
from shared.diarization.overlap import fit_mixes
from shared.diarization.projection import SpeakerProjection
from shared.diarization.resegment import Turn, resegment
from shared.diarization.speaker_count import estimate_speakers
from shared.diarization.windows import embed_windows, speech_windows
from shared.errors import InvalidInput
from shared.speaker.encoder import SAMPLE_RATE, SpeakerEncoder

MAX_CLUSTERED = 1500  # windows clustered directly (eigh is cubic); beyond it, an even subsample, then nearest centroid


@dataclass(frozen=True)
class Diarization:
    turns: tuple[Turn, ...]
    num_speakers: int
    windows: int


def renumber(turns: Sequence[Turn]) -> tuple[list[Turn], int]:
    """Speakers renumbered 0, 1, ... by first appearance; returns the count seen."""
    mapping: dict[int, int] = {}
    for t in sorted(turns, key=lambda t: t.start_ms):
        for s in t.speakers:
            mapping.setdefault(s, len(mapping))
    out = []
    for t in turns:
        a = mapping[t.speaker]
        b = None if t.overlap_with is None else mapping[t.overlap_with]
        if b is not None and b < a:
            a, b = b, a
        out.append(replace(t, speaker=a, overlap_with=b))
    return out, len(mapping)


def fill_unembedded(regions_ms: Sequence[tuple[int, int]], turns: list[Turn]) -> list[Turn]:
    """Speech regions too short to embed go to the speaker of the nearest turn in time, so no speech is lost."""
    if not turns:
        return turns
    out = list(turns)
    for start, end in regions_ms:
        if any(t.start_ms < end and t.end_ms > start for t in turns):
            continue
        nearest = min(turns, key=lambda t: min(abs(t.start_ms - end), abs(start - t.end_ms)))
        out.append(Turn(start, end, nearest.speaker))
    return sorted(out, key=lambda t: t.start_ms)


def speaker_labels(emb: np.ndarray, config: DiarizationConfig) -> tuple[np.ndarray, int]:
    """(speaker of each window, number of speakers). A long call (over ``MAX_CLUSTERED`` windows, about
    19 min of speech) is clustered on an even subsample; every window then goes to its nearest centroid."""
    step = int(np.ceil(len(emb) / MAX_CLUSTERED))
    sample = emb[::step]
    if config.num_speakers:
        k, labels = config.num_speakers, cluster(sample, config.num_speakers, config.seed)
    else:
        k, labels = estimate_speakers(sample, config.max_speakers, config.same_speaker_cos, config.min_silhouette,
                                      config.seed, config.more_speakers_margin)
    if step == 1 or k == 1:
        return (labels if step == 1 else np.zeros(len(emb), dtype=np.int64)), k
    return refine(emb, np.argmax(emb @ centroids(sample, labels, k).T, axis=1), k), k


def diarize(x16k: np.ndarray, regions_ms: Sequence[tuple[int, int]], encoder: SpeakerEncoder,
            config: DiarizationConfig = DiarizationConfig(), projection: SpeakerProjection | None = None
            ) -> Diarization:
    """Turns of ``x16k`` (1-D, 16 kHz) within ``regions_ms`` ([start, end) ms of speech). With a
    ``projection`` every step (clustering, count, overlap, turns) works on the projected embeddings."""
    x = np.asarray(x16k, dtype=np.float32)
    if x.ndim != 1:
        raise InvalidInput(f"diarization takes one channel, got shape {x.shape}")
    total_ms = 1000 * len(x) // SAMPLE_RATE
    regions = sorted((max(0, int(a)), min(total_ms, int(b))) for a, b in regions_ms)
    if any(b <= a for a, b in regions):
        raise InvalidInput(f"speech regions must be non-empty and inside the {total_ms} ms of audio")
    windows = speech_windows(regions, config)
    if not windows:
        turns = [Turn(a, b, 0) for a, b in regions]
        return Diarization(tuple(turns), 1 if turns else 0, 0)
    emb = embed_windows(x, windows, encoder).astype(np.float64)
    if projection is not None:
        emb = projection.transform(emb)
    labels, k = speaker_labels(emb, config)
    cents = centroids(emb, labels, k)
    fit = fit_mixes(emb, cents, config)
    turns = fill_unembedded(regions, resegment(regions, windows, emb @ cents.T, fit, config))
    turns, seen = renumber(turns)
    return Diarization(tuple(turns), seen, len(windows))
