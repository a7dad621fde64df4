"""soxr VHQ resampling: the pitch and the length come out right."""
from __future__ import annotations

import numpy as np
import pytest

from shared.audio.resample import RESAMPLER, resample, resample_array
from shared.audio.types import Audio


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spec)])


def test_1khz_tone_stays_1khz_from_8k_to_16k():
    sr = 8000
    x = np.sin(2 * np.pi * 1000 * np.arange(sr * 2) / sr).astype(np.float32)
    y = resample_array(x, 8000, 16000)
    assert y.dtype == np.float32
    assert abs(y.size - 2 * x.size) <= 1
    assert dominant_hz(y, 16000) == pytest.approx(1000, abs=1)
    # nothing was created above the old Nyquist: energy beyond 4.2 kHz is tiny
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / 16000)
    assert spec[freqs > 4200].sum() / spec.sum() < 1e-6


def test_downsampling_removes_content_above_the_new_nyquist():
    sr = 48000
    t = np.arange(sr) / sr
    x = (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 12000 * t)).astype(np.float32)
    y = resample_array(x, 48000, 16000)
    assert abs(y.size - 16000) <= 1
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / 16000)
    assert dominant_hz(y, 16000) == pytest.approx(440, abs=2)
    assert spec[np.abs(freqs - 4000) < 50].sum() / spec.sum() < 1e-6  # 12 kHz did not alias to 4 kHz


def test_resample_keeps_channels_apart_and_is_a_noop_at_the_same_rate():
    sr = 8000
    t = np.arange(sr) / sr
    x = np.stack([np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 1500 * t)]).astype(np.float32)
    a = Audio(samples=x, sample_rate=sr, source_format="wav/ulaw")
    b = resample(a, 16000)
    assert b.samples.shape == (2, 16000) and b.sample_rate == 16000 and b.source_format == "wav/ulaw"
    assert dominant_hz(b.samples[0], 16000) == pytest.approx(500, abs=1)
    assert dominant_hz(b.samples[1], 16000) == pytest.approx(1500, abs=1)
    assert resample(a, 8000) is a
    assert resample_array(x, 8000, 8000) is x


def test_resampler_is_named_and_bad_rates_refused():
    assert RESAMPLER == "soxr VHQ"
    with pytest.raises(ValueError):
        resample_array(np.zeros(10, np.float32), 0, 16000)


def test_stream_resampler_matches_one_shot_resampling_across_odd_chunks():
    from shared.audio.resample import StreamResampler

    sr = 8000
    t = np.arange(sr * 3) / sr
    x = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
    rs = StreamResampler(8000, 16000, channels=2)
    edges = [0, 1, 777, 5000, 5001, 12000, x.shape[1]]
    parts = [rs.push(x[:, a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)] + [rs.flush()]
    y = np.concatenate(parts, axis=1)
    whole = resample_array(x, 8000, 16000)
    assert abs(y.shape[1] - whole.shape[1]) <= 1
    n = min(y.shape[1], whole.shape[1])
    assert np.max(np.abs(y[:, :n] - whole[:, :n])) < 1e-3
    same = StreamResampler(16000, 16000, channels=2)
    assert same.push(x) is not None and same.flush().shape == (2, 0)
    with pytest.raises(ValueError):
        rs.push(x[0])
