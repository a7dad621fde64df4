"""Sample-rate conversion with libsoxr at its very-high-quality setting (the one resampler the project uses)."""
from __future__ import annotations

import numpy as np
import soxr

from shared.audio.types import Audio

RESAMPLER = "soxr VHQ"
SOXR_QUALITY = "VHQ"


def resample_array(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample 1-D (n,) or 2-D (channels, n) float audio; returns float32, a copy-free no-op when equal."""
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    x = np.asarray(x, dtype=np.float32)
    if sr_in == sr_out:
        return x
    if x.ndim == 1:
        return soxr.resample(x, sr_in, sr_out, quality=SOXR_QUALITY).astype(np.float32, copy=False)
    if x.ndim != 2:
        raise ValueError(f"expected (n,) or (channels, n) audio, got shape {x.shape}")
    # soxr wants frames first: (n, channels)
    y = soxr.resample(np.ascontiguousarray(x.T), sr_in, sr_out, quality=SOXR_QUALITY)
    return np.ascontiguousarray(y.T, dtype=np.float32)


def resample(audio: Audio, target_rate: int) -> Audio:
    """``Audio`` at ``target_rate`` (the same object when it already is)."""
    if audio.sample_rate == target_rate:
        return audio
    return Audio(
        samples=resample_array(audio.samples, audio.sample_rate, target_rate),
        sample_rate=target_rate,
        source_format=audio.source_format,
    )


class StreamResampler:
    """Chunked resampling of (channels, n) blocks through one soxr stream: no seams between chunks.

    Output lags input by the filter delay; ``flush`` returns the tail. Identity when rates match.
    """

    def __init__(self, sr_in: int, sr_out: int, channels: int = 1) -> None:
        if sr_in <= 0 or sr_out <= 0:
            raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
        self.sr_in, self.sr_out, self.channels = sr_in, sr_out, channels
        self._rs = None if sr_in == sr_out else soxr.ResampleStream(sr_in, sr_out, channels, dtype="float32", quality=SOXR_QUALITY)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, n) samples, got shape {x.shape}")
        if self._rs is None:
            return x
        return np.ascontiguousarray(self._rs.resample_chunk(np.ascontiguousarray(x.T), last=False).T)

    def flush(self) -> np.ndarray:
        if self._rs is None:
            return np.zeros((self.channels, 0), dtype=np.float32)
        tail = self._rs.resample_chunk(np.zeros((0, self.channels), dtype=np.float32), last=True)
        return np.ascontiguousarray(tail.T)
