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
