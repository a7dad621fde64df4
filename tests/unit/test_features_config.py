"""The log-mel spec: n_fft choice, hash stability/sensitivity, presets, (de)serialisation."""
from __future__ import annotations

import numpy as np
import pytest

from shared.errors import SpecError
from shared.features.config import (
    PRESETS,
    LogMelConfig,
    empty_filters,
    mel_filterbank,
    preset,
    smallest_nfft_without_empty_filters,
)


def test_default_nfft_leaves_no_empty_filter_on_either_mel_scale():
    c = LogMelConfig()
    assert c.n_mels == 128 and c.win_length == 400 and c.hop_length == 160
    for scale in ("slaney", "htk"):
        weights = mel_filterbank(c.replace(mel_scale=scale))
        assert weights.shape == (128, c.n_fft // 2 + 1)
        assert (weights.max(axis=1) > 0).all(), scale


def test_default_nfft_is_the_smallest_power_of_two_that_works():
    c = LogMelConfig()
    assert smallest_nfft_without_empty_filters(c) == c.n_fft == 1024
    # the reason it is not 400 or 512: low HTK filters fall between FFT bins
    assert empty_filters(c.replace(n_fft=400, mel_scale="htk")) == [0, 3, 6, 13]
    assert empty_filters(c.replace(n_fft=512, mel_scale="htk")) == [0]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_have_no_empty_filters(name):
    assert empty_filters(preset(name)) == []


def test_presets_match_the_papers():
    assert preset("speakercct").n_mels == 128
    parry = preset("parry")
    assert (parry.n_mels, parry.win_length, parry.hop_length, parry.per_utterance_norm) == (40, 400, 160, True)
    vacnn = preset("vacnn")
    assert (vacnn.n_fft, vacnn.hop_length, vacnn.win_length) == (2048, 512, 2048)
    with pytest.raises(SpecError, match="unknown log-mel preset"):
        preset("nope")


def test_hash_is_stable_and_pinned():
    # Pinned: a change here means every stored model's feature hash changes. Do it on purpose only.
    assert LogMelConfig().hash() == LogMelConfig().hash()
    assert LogMelConfig(win_ms=25).hash() == LogMelConfig(win_ms=25.0).hash()
    assert len(LogMelConfig().hash()) == 16
    assert LogMelConfig().hash() == PINNED_DEFAULT_HASH


PINNED_DEFAULT_HASH = "aaf7ceb9f31ce3a9"


@pytest.mark.parametrize(
    "change",
    [
        {"n_mels": 64},
        {"hop_ms": 12.5},
        {"window": "hann"},
        {"top_db": None},
        {"per_utterance_norm": True},
        {"deltas": 1},
        {"fmax": 7600.0},
        {"mel_scale": "htk"},
        {"log": "ln"},
    ],
)
def test_hash_changes_with_every_numeric_field(change):
    assert LogMelConfig(**change).hash() != LogMelConfig().hash()


def test_dict_round_trip_and_rejects_unknown_fields():
    c = preset("parry")
    assert LogMelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(SpecError, match="unknown LogMelConfig fields"):
        LogMelConfig.from_dict({**c.to_dict(), "bogus": 1})
    with pytest.raises(SpecError, match="version"):
        LogMelConfig.from_dict({**c.to_dict(), "version": 99})


@pytest.mark.parametrize(
    "bad",
    [{"n_fft": 256}, {"window": "kaiser"}, {"power": 3.0}, {"deltas": 3}, {"fmax": 9000.0}, {"fmin": 9000.0}],
)
def test_invalid_configs_raise(bad):
    with pytest.raises(SpecError):
        LogMelConfig(**bad)


def test_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    for name, c in PRESETS.items():
        ref = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax,
                                  htk=c.mel_scale == "htk", norm=c.mel_norm)
        np.testing.assert_allclose(mel_filterbank(c), ref, atol=1e-7, err_msg=name)
