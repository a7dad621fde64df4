"""prepare(): the one path the preprocess service and the segment_batch task share."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from shared.assets import sample_call_path
from shared.audio.decode import AudioLimits, RawPcmSpec, decode
from shared.audio.loudness import loudness_lufs
from shared.audio.pipeline import PreparedAudio, PrepareOptions, prepare
from shared.audio.resample import resample_array
from shared.audio.vad import SileroVad, VadConfig, segment_audio
from shared.errors import AudioTooLong, CorruptAudio


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad(device="cpu")


@pytest.fixture(scope="module")
def call_8k_mulaw() -> bytes:
    """The sample call as a call centre would record it: 8 kHz stereo mu-law WAV."""
    call = decode(sample_call_path())
    buf = io.BytesIO()
    sf.write(buf, resample_array(call.samples, 16000, 8000).T, 8000, format="WAV", subtype="ULAW")
    return buf.getvalue()


def test_prepare_keeps_channels_resamples_and_segments(vad, call_8k_mulaw):
    out = prepare(call_8k_mulaw, PrepareOptions(), vad=vad)
    assert isinstance(out, PreparedAudio)
    assert (out.source_rate, out.source_channels) == (8000, 2)
    assert out.audio.sample_rate == 16000 and out.audio.num_channels == 2
    assert out.audio.source_format == "wav/ulaw"
    assert out.roles == ("agent", "customer")
    assert out.duration_s == pytest.approx(decode(sample_call_path()).duration_s, abs=0.01)
    assert {(s.channel, s.speaker) for s in out.segments} == {(0, "agent"), (1, "customer")}
    # telephone-band audio is segmented like the 16 kHz original
    ref = segment_audio(decode(sample_call_path()), VadConfig(), vad)
    assert len(out.segments) == len(ref)
    for a, b in zip(out.segments, ref, strict=True):
        assert a.channel == b.channel and abs(a.start_ms - b.start_ms) <= 100 and abs(a.end_ms - b.end_ms) <= 100


def test_prepare_mixdown_and_roles(vad):
    data = sample_call_path().read_bytes()
    mixed = prepare(data, PrepareOptions(keep_channels=False), vad=vad)
    assert mixed.audio.num_channels == 1 and mixed.roles == ("mixed",)
    assert mixed.source_channels == 2
    assert mixed.segments and {s.speaker for s in mixed.segments} == {"mixed"}
    swapped = prepare(data, PrepareOptions(roles=("customer", "agent")), vad=vad)
    assert swapped.roles == ("customer", "agent")
    assert {s.speaker for s in swapped.segments if s.channel == 0} == {"customer"}


@pytest.mark.parametrize("mode", ["none", "peak", "loudness"])
def test_normalisation_is_per_channel_and_does_not_move_segments(vad, mode):
    call = decode(sample_call_path())
    quiet = call.samples * np.array([[1.0], [0.05]], np.float32)  # the customer line is 26 dB down
    raw = (np.clip(quiet.T, -1, 1) * 32767).astype("<i2").tobytes()
    out = prepare(raw, PrepareOptions(normalize=mode), vad=vad, raw=RawPcmSpec(16000, 2, "pcm_s16le"))
    base = prepare(raw, PrepareOptions(), vad=vad, raw=RawPcmSpec(16000, 2, "pcm_s16le"))
    assert out.segments == base.segments
    peaks = np.max(np.abs(out.audio.samples), axis=1)
    if mode == "peak":
        np.testing.assert_allclose(peaks, 10 ** (-1 / 20), rtol=1e-4)
    elif mode == "loudness":
        for ch in out.audio.samples:
            assert loudness_lufs(ch, 16000) == pytest.approx(-23.0, abs=0.1)
    else:
        assert peaks[1] < 0.1 * peaks[0]


def test_prepare_raises_typed_errors(vad):
    with pytest.raises(CorruptAudio):
        prepare(b"garbage" * 100, vad=vad)
    with pytest.raises(AudioTooLong):
        prepare(sample_call_path(), vad=vad, limits=AudioLimits(max_seconds=5.0))


def test_options_validation():
    with pytest.raises(ValueError, match="normalize"):
        PrepareOptions(normalize="rms")
    assert PrepareOptions().vad == VadConfig() and PrepareOptions().return_audio is False
