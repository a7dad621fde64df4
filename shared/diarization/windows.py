"""Short sliding windows inside speech, and their speaker embeddings.

One embedding per 1.5 s window (hop 0.75 s) is the usual trade for GE2E: long enough for a stable
d-vector (the encoder's own partials are 1.6 s), short enough to see a turn change within a second.
Windows never cross a VAD gap; a region shorter than a window gets one window over all of it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.audio.loudness import rms_normalize
from shared.diarization.config import DiarizationConfig
from shared.speaker.encoder import SAMPLE_RATE, SpeakerEncoder

WINDOW_DBFS = -30.0  # resemblyzer's target level
EMBED_BATCH = 256


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int


def speech_windows(regions_ms: Sequence[tuple[int, int]], config: DiarizationConfig) -> list[Window]:
    """Windows of ``config.window_ms`` every ``config.hop_ms`` in each [start, end) speech region; the
    last window of a region is aligned to its end so no speech is left uncovered. Regions shorter than
    ``min_window_ms`` are too short to embed and get none."""
    out: list[Window] = []
    for start, end in sorted(regions_ms):
        length = end - start
        if length < config.min_window_ms:
            continue
        if length <= config.window_ms:
            out.append(Window(start, end))
            continue
        at = start
        while at + config.window_ms < end:
            out.append(Window(at, at + config.window_ms))
            at += config.hop_ms
        out.append(Window(end - config.window_ms, end))
    return out


def levelled(clip: np.ndarray) -> np.ndarray:
    """The clip at -30 dBFS RMS, up or down: GE2E's own preprocessing only raises quiet audio, so a loud
    turn and a quiet turn of one voice would embed apart (the encoder reads mel power, not log-mel)."""
    return rms_normalize(clip, WINDOW_DBFS)


def embed_windows(x16k: np.ndarray, windows: Sequence[Window], encoder: SpeakerEncoder) -> np.ndarray:
    """(n_windows, dim) unit embeddings of the loudness-levelled windows, ``EMBED_BATCH`` windows per encoder
    batch (one batch for a whole long call would hold all its mel frames and LSTM states at once)."""
    if not windows:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    per_ms = SAMPLE_RATE // 1000
    parts = []
    for first in range(0, len(windows), EMBED_BATCH):
        clips = [levelled(x16k[w.start_ms * per_ms : w.end_ms * per_ms]) for w in windows[first : first + EMBED_BATCH]]
        parts.append(np.asarray(encoder.embed_batch(clips), dtype=np.float32))
    vectors = np.concatenate(parts)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
