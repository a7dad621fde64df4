"""Seeded augmentation: reproducibility, exact SNR, speed/shift/gain/telephone effects, masks, oversampling."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from shared.errors import InvalidInput, SpecError
from shared.features.augment import (
    AugmentConfig,
    Augmenter,
    add_noise,
    apply_gain,
    change_speed,
    mask_spectrogram,
    mu_law_decode,
    mu_law_encode,
    oversample,
    pitch_shift,
    telephone,
    time_shift,
)
from shared.features.logmel import LogMelFrontEnd

SR = 16000


def _tone(freq: float, seconds: float = 0.5, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spec)])


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return 10 * np.log10(spec[(f >= lo) & (f < hi)].sum() + 1e-20)


def test_same_seed_same_output_different_seed_differs():
    x = _tone(300) + _tone(1200, amp=0.1)
    cfg = AugmentConfig(p=1.0, telephone_p=0.0)
    a = Augmenter(cfg, seed=7).waveform(x)
    b = Augmenter(cfg, seed=7).waveform(x)
    c = Augmenter(cfg, seed=8).waveform(x)
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.allclose(a, c)
    spec = LogMelFrontEnd(device="cpu").compute_many([a])[0]
    m1 = Augmenter(cfg, seed=1).spectrogram(spec)
    assert np.array_equal(m1, Augmenter(cfg, seed=1).spectrogram(spec))


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_noise_is_added_at_the_requested_snr(snr):
    x = _tone(440, 1.0)
    rng = np.random.default_rng(0)
    y = add_noise(x, snr, rng)
    noise = y.astype(np.float64) - x
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(measured - snr) < 0.5
    given = np.random.default_rng(1).uniform(-1, 1, 3000)  # shorter than x: tiled
    y2 = add_noise(x, snr, rng, noise=given)
    measured2 = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y2.astype(np.float64) - x) ** 2))
    assert abs(measured2 - snr) < 0.5


def test_speed_changes_length_and_pitch_together():
    x = _tone(500, 1.0)
    fast = change_speed(x, 1.25)
    assert abs(len(fast) - len(x) / 1.25) <= 1
    assert abs(_peak_hz(fast) - 625) < 5
    with pytest.raises(InvalidInput):
        change_speed(x, 0)


def test_pitch_shift_keeps_duration_and_moves_the_tone():
    x = _tone(440, 0.5)
    y = pitch_shift(x, SR, 12.0)
    assert len(y) == len(x)
    assert abs(_peak_hz(y) - 880) < 15
    down = pitch_shift(x, SR, -3.3)
    assert len(down) == len(x) and abs(_peak_hz(down) - 440 * 2 ** (-3.3 / 12)) < 10


def test_shift_is_zero_filled_and_gain_scales():
    x = np.arange(1, 6, dtype=np.float32)
    assert time_shift(x, 2).tolist() == [0, 0, 1, 2, 3]
    assert time_shift(x, -2).tolist() == [3, 4, 5, 0, 0]
    assert not time_shift(x, 9).any()
    assert np.allclose(apply_gain(x, 20.0), 10 * x)


def test_telephone_band_limits_and_keeps_speech_band():
    x = _tone(1000, 0.5) + _tone(6000, 0.5)
    y = telephone(x, SR)
    assert y.shape == x.shape
    assert _band_db(x, 5500, 6500) - _band_db(y, 5500, 6500) > 40
    assert abs(_band_db(x, 900, 1100) - _band_db(y, 900, 1100)) < 1.5
    codes = mu_law_encode(np.linspace(-1, 1, 101))
    assert codes.min() >= 0 and codes.max() <= 255
    assert np.abs(mu_law_decode(codes) - np.linspace(-1, 1, 101)).max() < 0.03


def test_spec_masks_fill_with_mean_and_are_seeded():
    spec = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    out = mask_spectrogram(spec, np.random.default_rng(3), 1, 10, 1, 8)
    changed = out != spec
    assert changed.any()
    assert np.allclose(out[changed], spec.mean())
    again = mask_spectrogram(spec, np.random.default_rng(3), 1, 10, 1, 8)
    assert np.array_equal(out, again)


def test_oversample_balances_minorities_reproducibly():
    items = list(range(10))
    labels = ["a"] * 6 + ["b"] * 3 + ["c"]
    out_items, out_labels, seeds = oversample(items, labels, seed=5)
    assert Counter(out_labels) == {"a": 6, "b": 6, "c": 6}
    assert out_items[:10] == items and seeds[:10] == [None] * 10
    assert all(s is not None for s in seeds[10:])
    assert all(labels[i] == lab for i, lab in zip(out_items[10:], out_labels[10:], strict=True))
    assert oversample(items, labels, seed=5) == (out_items, out_labels, seeds)
    augmented, _, aseeds = oversample(items, labels, target_count=4, seed=5, augment=lambda it, s: (it, s))
    assert Counter(_) == {"a": 6, "b": 4, "c": 4}
    assert [a[1] for a in augmented[10:]] == aseeds[10:]


def test_speed_augmentation_reaches_the_log_mels():
    """Augmenting the waveform (not the spectrogram) must show in the front end: a 1.25x speed-up
    gives 1/1.25 of the frames and moves the tone's energy to higher mel bands."""
    fe = LogMelFrontEnd(device="cpu")
    x = _tone(300, 1.0)
    only_speed = AugmentConfig(p=1.0, speed_range=(1.25, 1.25), snr_db_range=None, max_shift_s=None,
                               gain_db_range=None)
    y = Augmenter(only_speed, seed=0).waveform(x)
    mx, my = fe.compute_many([x])[0], fe.compute_many([y])[0]
    assert abs(my.shape[-1] / mx.shape[-1] - 1 / 1.25) < 0.02
    peak_x, peak_y = int(np.argmax(mx.mean(axis=-1))), int(np.argmax(my.mean(axis=-1)))
    assert peak_y > peak_x


def test_config_validation():
    with pytest.raises(SpecError):
        AugmentConfig(p=1.5)
    with pytest.raises(SpecError):
        AugmentConfig(snr_db_range=(30.0, 10.0))
    assert AugmentConfig().hash() != AugmentConfig(p=0.1).hash()
