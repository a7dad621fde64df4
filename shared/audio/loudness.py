"""Peak and loudness normalisation; loudness is ITU-R BS.1770-4 (K-weighting, 400 ms blocks, two gates).

Every function accepts (n,) or (channels, n) float audio and is safe on silence: a signal with no
energy (or all below the -70 LUFS absolute gate) is returned unchanged and its loudness is -inf.
"""
from __future__ import annotations

import math

import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_S = 0.4
OVERLAP = 0.75


def _k_weighting(sr: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads at any rate.

    Analog parameters as derived in libebur128: at 48 kHz they reproduce the coefficient table of
    BS.1770 exactly, and at other rates (16 kHz here) they give the same curve via the bilinear
    transform instead of reusing the 48 kHz numbers (which would be wrong).
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf_b = np.array([(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0])
    shelf_a = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])

    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr)
    a0 = 1.0 + k / q + k * k
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    return (shelf_b, shelf_a), (hp_b, hp_a)


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        return x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected (n,) or (channels, n) audio, got shape {x.shape}")
    return x


def loudness_lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS (all channels weighted 1.0); -inf for silence or < 400 ms of audio."""
    ch = _as_2d(x).astype(np.float64)
    block, step = int(round(BLOCK_S * sr)), int(round(BLOCK_S * (1 - OVERLAP) * sr))
    if ch.shape[1] < block:
        return float("-inf")
    from scipy.signal import lfilter  # lazy: scipy.signal costs seconds to import, most callers never need it

    (b1, a1), (b2, a2) = _k_weighting(sr)
    y = lfilter(b2, a2, lfilter(b1, a1, ch, axis=1), axis=1)
    # mean square of every 400 ms block, per channel, via a cumulative sum (no block copies)
    csum = np.concatenate([np.zeros((ch.shape[0], 1)), np.cumsum(y * y, axis=1)], axis=1)
    starts = np.arange(0, ch.shape[1] - block + 1, step)
    z = (csum[:, starts + block] - csum[:, starts]) / block
    power = z.sum(axis=0)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(power)
    gated = power[block_lufs > ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10.0 * math.log10(gated.mean()) + RELATIVE_GATE_LU
    gated = power[(block_lufs > ABSOLUTE_GATE_LUFS) & (block_lufs > relative)]
    return float(-0.691 + 10.0 * math.log10(gated.mean()))


def peak_normalize(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    """Scale so the largest absolute sample sits at ``peak_dbfs``; silence comes back unchanged."""
    x = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return x.copy()
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def rms_normalize(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    """Gain (up or down) to ``rms_dbfs`` RMS, the level resemblyzer's GE2E preprocessing uses; near-silence
    (RMS <= 1e-6) comes back unchanged."""
    x = np.asarray(x, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return x if rms <= 1e-6 else (x * (10 ** (rms_dbfs / 20) / rms)).astype(np.float32)


def loudness_normalize(
    x: np.ndarray,
    sr: int,
    target_lufs: float = -23.0,
    *,
    max_peak_dbfs: float | None = 0.0,
) -> np.ndarray:
    """Gain to ``target_lufs`` (EBU R128 default -23). Unmeasurable (silent/short) audio is returned unchanged.

    With ``max_peak_dbfs`` set, the gain is lowered where it would push a sample above that peak, so
    a very quiet, peaky signal may land below the target rather than clip.
    """
    x = np.asarray(x, dtype=np.float32)
    current = loudness_lufs(x, sr)
    if not math.isfinite(current):
        return x.copy()
    gain = 10.0 ** ((target_lufs - current) / 20.0)
    if max_peak_dbfs is not None:
        peak = float(np.max(np.abs(x)))
        if peak * gain > 10.0 ** (max_peak_dbfs / 20.0):
            gain = 10.0 ** (max_peak_dbfs / 20.0) / peak
    return (x * gain).astype(np.float32)
