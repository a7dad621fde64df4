"""openSMILE functionals: dimensions, names, and that F0 tracks a known pitch."""
from __future__ import annotations

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
