"""openSMILE functionals: dimensions, names, and that F0 tracks a known pitch."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

from shared.errors import EmptyAudio, InvalidInput, NonFiniteAudio
from shared.features.egemaps import FunctionalsExtractor, extract_functionals

SR = 16000


def _harmonic(f0: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 15))
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def test_egemaps_has_88_named_finite_functionals():
    values, names = extract_functionals(_harmonic(150), SR, "egemaps")
    assert values.shape == (88,) and len(names) == 88 and values.dtype == np.float32
    assert np.isfinite(values).all()
    assert names[0].startswith("F0semitoneFrom27.5Hz")


def test_f0_functional_follows_the_pitch_by_an_octave():
    ex = FunctionalsExtractor("egemaps")
    i = ex.names.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    low, high = ex.many([_harmonic(110), _harmonic(220)], SR)[:, i]
    assert abs((high - low) - 12.0) < 1.0  # one octave = 12 semitones
    assert abs(low - 12 * np.log2(110 / 27.5)) < 1.0


def test_emobase_has_988():
    ex = FunctionalsExtractor("emobase")
    assert ex.dim == 988 and ex(_harmonic(200, 0.5), SR).shape == (988,)


def test_errors():
    with pytest.raises(InvalidInput):
        FunctionalsExtractor("compare2016")
    ex = FunctionalsExtractor()
    with pytest.raises(EmptyAudio):
        ex(np.zeros(0, np.float32), SR)
    with pytest.raises(NonFiniteAudio):
        ex(np.array([np.inf] * 100, np.float32), SR)
    with pytest.raises(InvalidInput):
        ex(np.zeros((2, 100), np.float32), SR)


def test_reused_native_instance_equals_process_signal_clip_after_clip():
    """The extractor resets one native openSMILE instance between clips instead of building one per
    clip: every clip of a mixed sequence (lengths, two rates, a too-short one) must still get exactly
    the functionals of a fresh ``process_signal``."""
    import soundfile as sf

    from shared.assets import sample_call_path

    speech, rate = sf.read(sample_call_path(), dtype="float32", always_2d=True)
    assert rate == SR
    rng = np.random.default_rng(0)
    clips = [(speech[o : o + int(s * SR), int(c)], SR) for o, s, c in
             zip(rng.integers(0, len(speech) - 4 * SR, 6), rng.uniform(0.4, 3.5, 6), rng.integers(0, 2, 6), strict=True)]
    clips.insert(3, (speech[SR : 3 * SR : 2, 0].copy(), 8000))
    clips.insert(5, (speech[:40, 1].copy(), SR))
    ex = FunctionalsExtractor("egemaps")
    got = [ex(c, r) for c, r in clips]
    for (clip, r), row in zip(clips, got, strict=True):
        with pytest.warns(UserWarning) if len(clip) < 100 else contextlib.nullcontext():
            fresh = ex._smile.process_signal(clip, r).to_numpy(dtype=np.float32).reshape(-1)
        np.testing.assert_array_equal(row, fresh)
    assert np.isnan(got[5]).all() and np.isfinite(np.concatenate(got[:5] + got[6:])).all()
