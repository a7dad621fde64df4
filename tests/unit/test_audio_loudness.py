"""BS.1770 loudness against known values, and both normalisers (silence included)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from shared.audio.loudness import _k_weighting, loudness_lufs, loudness_normalize, peak_normalize, rms_normalize


def sine(amp: float, sr: int = 16000, seconds: float = 3.0, freq: float = 1000.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(sr * seconds)) / sr)).astype(np.float32)


def test_k_weighting_reproduces_the_bs1770_48k_coefficients():
    (b1, a1), (b2, a2) = _k_weighting(48000)
    np.testing.assert_allclose(b1, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-10)
    np.testing.assert_allclose(a1, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-10)
    np.testing.assert_allclose(b2, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(a2, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-10)


@pytest.mark.parametrize("sr", [16000, 48000])
def test_minus_20_dbfs_1khz_sine_is_minus_23_lufs(sr):
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS, so -20 dBFS reads -23.01
    assert loudness_lufs(sine(0.1, sr), sr) == pytest.approx(-23.01, abs=0.5)
    assert loudness_lufs(sine(0.1, sr), sr) == pytest.approx(-23.01, abs=0.05)


def test_gating_ignores_silence_and_channels_sum():
    x = sine(0.1)
    padded = np.concatenate([x, np.zeros(16000 * 6, np.float32)])
    # ungated, 6 s of silence after 3 s of tone would read 10*log10(3/9) = -4.8 LU lower; the gates
    # drop the silent blocks (only the few blocks straddling the edge still count)
    assert loudness_lufs(padded, 16000) == pytest.approx(loudness_lufs(x, 16000), abs=0.3)
    both = np.stack([x, x])
    assert loudness_lufs(both, 16000) == pytest.approx(loudness_lufs(x, 16000) + 10 * math.log10(2), abs=0.05)


def test_silence_and_too_short_are_minus_inf_and_left_alone():
    z = np.zeros(16000, np.float32)
    assert loudness_lufs(z, 16000) == float("-inf")
    assert loudness_lufs(sine(0.5, seconds=0.2), 16000) == float("-inf")
    np.testing.assert_array_equal(loudness_normalize(z, 16000), z)
    np.testing.assert_array_equal(peak_normalize(z), z)


@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
def test_loudness_normalize_hits_the_target(target):
    y = loudness_normalize(sine(0.02), 16000, target)
    assert loudness_lufs(y, 16000) == pytest.approx(target, abs=0.05)


def test_loudness_normalize_limits_the_peak_rather_than_clip():
    x = sine(0.002)
    x[8000] = 0.5  # a quiet tone with one click: reaching -10 LUFS would push the click far past 0 dBFS
    y = loudness_normalize(x, 16000, -10.0)
    assert np.max(np.abs(y)) == pytest.approx(1.0, abs=1e-6)
    assert loudness_lufs(y, 16000) < -10.0
    unlimited = loudness_normalize(x, 16000, -10.0, max_peak_dbfs=None)
    assert loudness_lufs(unlimited, 16000) == pytest.approx(-10.0, abs=0.05)


def test_peak_normalize():
    y = peak_normalize(sine(0.25), -1.0)
    assert 20 * np.log10(np.max(np.abs(y))) == pytest.approx(-1.0, abs=1e-4)
    st = np.stack([sine(0.25), sine(0.5)])
    assert np.max(np.abs(peak_normalize(st, 0.0))) == pytest.approx(1.0, abs=1e-6)


def test_rms_normalize_raises_and_lowers_to_the_level_and_leaves_silence():
    x = (0.5 * np.sin(np.linspace(0, 200 * np.pi, 16000))).astype(np.float32)  # RMS 0.354 = -9 dBFS
    for target in (-30.0, -3.0):
        y = rms_normalize(x, target)
        assert 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) == pytest.approx(target, abs=1e-3)
    silent = np.zeros(100, dtype=np.float32)
    assert np.array_equal(rms_normalize(silent, -30.0), silent)
