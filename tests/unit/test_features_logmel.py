"""The front end against an independent librosa computation, batching, deltas, normalisation, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.errors import EmptyAudio, InvalidInput, NonFiniteAudio
from shared.features.config import PRESETS, LogMelConfig, preset
from shared.features.logmel import LogMelFrontEnd, deltas

SR = 16000
DB_TOLERANCE = 0.02  # dB, the stated tolerance against librosa (observed ~1e-4)


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    chirp = np.sin(2 * np.pi * (150 * t + 900 * t**2)) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * chirp + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def _librosa_logmel(x: np.ndarray, c: LogMelConfig) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    S = librosa.feature.melspectrogram(
        y=x, sr=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window=c.window,
        center=True, pad_mode="constant", power=c.power, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax,
        htk=c.mel_scale == "htk", norm=c.mel_norm,
    )
    db = librosa.power_to_db(S, ref=1.0, amin=c.amin, top_db=c.top_db)
    if c.per_utterance_norm:
        db = (db - db.mean(axis=1, keepdims=True)) / (db.std(axis=1, keepdims=True) + 1e-5)
    return db


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_matches_librosa_within_tolerance(name):
    c = preset(name)
    x = _signal(1.3)
    ours = LogMelFrontEnd(c, device="cpu").compute_many([x])[0]
    ref = _librosa_logmel(x, c)
    assert ours.shape == ref.shape == (c.n_mels, 1 + len(x) // c.hop_length)
    tol = 1e-3 if c.per_utterance_norm else DB_TOLERANCE
    assert np.abs(ours - ref).max() <= tol


def test_magnitude_power_matches_librosa_amplitude_db():
    c = LogMelConfig(power=1.0)
    x = _signal(0.6, seed=3)
    ours = LogMelFrontEnd(c, device="cpu").compute_many([x])[0]
    librosa = pytest.importorskip("librosa")
    S = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length,
                                       window=c.window, pad_mode="constant", power=1.0, n_mels=c.n_mels)
    ref = librosa.amplitude_to_db(S, ref=1.0, amin=1e-5, top_db=c.top_db)
    assert np.abs(ours - ref).max() <= DB_TOLERANCE


def test_batched_ragged_equals_one_at_a_time():
    fe = LogMelFrontEnd(LogMelConfig(), device="cpu", max_batch_samples=SR * 2)
    clips = [_signal(s, seed=i) for i, s in enumerate((0.31, 1.0, 0.05, 0.77))]
    together = fe.compute_many(clips)
    for clip, got in zip(clips, together, strict=True):
        alone = fe(torch.from_numpy(clip)[None])[0].numpy()
        assert got.shape == alone.shape == (128, 1 + len(clip) // 160)
        np.testing.assert_allclose(got, alone, atol=1e-3)


def test_call_on_equal_length_batch_returns_tensor_shape():
    fe = LogMelFrontEnd(device="cpu")
    x = np.stack([_signal(0.5, seed=i) for i in range(3)])
    out = fe(x)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 128, 51) and out.dtype == torch.float32
    # top_db floor per utterance
    flat = out.reshape(3, -1)
    assert torch.all(flat.max(dim=1).values - flat.min(dim=1).values <= 80.0 + 1e-4)


def test_deltas_are_stacked_and_recover_a_linear_slope():
    ramp = torch.arange(20, dtype=torch.float32).repeat(2, 1)[None] * 0.5
    d = deltas(ramp)
    np.testing.assert_allclose(d[..., 2:-2].numpy(), 0.5, atol=1e-6)
    fe = LogMelFrontEnd(LogMelConfig(deltas=2, n_mels=40, n_fft=512), device="cpu")
    out = fe.compute_many([_signal(0.4)])[0]
    assert out.shape == (120, 41)
    assert not np.allclose(out[40:80], 0)


def test_per_utterance_norm_gives_zero_mean_unit_std_per_band():
    out = LogMelFrontEnd(preset("parry"), device="cpu").compute_many([_signal(0.8)])[0]
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-2)


def test_natural_log_option():
    c = LogMelConfig(log="ln", top_db=None)
    fe = LogMelFrontEnd(c, device="cpu")
    x = torch.from_numpy(_signal(0.3))[None]
    np.testing.assert_allclose(fe(x).numpy(), torch.log(fe.mel_power(x) + c.amin).numpy(), rtol=1e-6)


def test_bad_inputs_raise_typed_errors():
    fe = LogMelFrontEnd(device="cpu")
    with pytest.raises(NonFiniteAudio):
        fe(np.array([0.0, np.nan, 0.1], dtype=np.float32))
    with pytest.raises(EmptyAudio):
        fe.compute_many([np.zeros(0, np.float32)])
    with pytest.raises(InvalidInput, match="1-D"):
        fe.compute_many([np.zeros((2, 100), np.float32)])
    with pytest.raises(InvalidInput, match="resample"):
        fe.compute_many([_signal(0.1)], sample_rate=8000)
    with pytest.raises(InvalidInput, match="shape"):
        fe(np.zeros((1, 2, 3), np.float32))
