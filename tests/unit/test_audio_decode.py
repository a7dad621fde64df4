"""decode/probe: every container and raw encoding, and every kind of bad input, on synthetic tones."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from shared.audio.decode import AudioInfo, AudioLimits, RawPcmSpec, decode, probe
from shared.errors import (
    AudioTooLong,
    AudioTooShort,
    CorruptAudio,
    EmptyAudio,
    NonFiniteAudio,
    NotFound,
    PayloadTooLarge,
    UnsupportedAudio,
)
from shared.settings import Settings


def tone(sr: int = 16000, seconds: float = 1.0, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """(n, channels) float32 sines, a different frequency per channel."""
    t = np.arange(int(sr * seconds)) / sr
    return np.stack([0.5 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)], axis=1).astype(np.float32)


def encode(x: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation, allowing codec delay of up to 2000 samples."""
    n = min(a.size, b.size) - 2000
    return max(
        float(np.dot(a[k : k + n], b[:n]) / (np.linalg.norm(a[k : k + n]) * np.linalg.norm(b[:n]) + 1e-12))
        for k in range(0, 2000, 1)
    )


@pytest.mark.parametrize(
    ("fmt", "subtype", "sr", "max_err"),
    [
        ("WAV", "PCM_16", 16000, 1e-4),
        ("WAV", "PCM_24", 44100, 1e-6),
        ("WAV", "FLOAT", 48000, 0.0),
        ("WAV", "ULAW", 8000, 0.02),
        ("WAV", "ALAW", 8000, 0.02),
        ("FLAC", "PCM_16", 16000, 1e-4),
    ],
)
def test_lossless_and_g711_formats_decode_to_the_same_signal(fmt, subtype, sr, max_err, tmp_path):
    x = tone(sr, 0.5, channels=2)
    data = encode(x, sr, fmt, subtype)
    path = tmp_path / f"a.{fmt.lower()}"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        audio = decode(source)
        assert audio.sample_rate == sr
        assert audio.samples.shape == (2, x.shape[0])
        assert audio.samples.dtype == np.float32
        assert audio.source_format == f"{fmt}/{subtype}".lower()
        assert np.max(np.abs(audio.samples - x.T)) <= max_err


@pytest.mark.parametrize(("fmt", "subtype"), [("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", "MPEG_LAYER_III")])
def test_lossy_formats_decode_to_a_correlated_signal(fmt, subtype):
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} lacks {fmt}/{subtype}")
    x = tone(16000, 1.0)
    audio = decode(encode(x, 16000, fmt, subtype))
    assert audio.sample_rate == 16000 and audio.num_channels == 1
    assert abs(audio.num_samples - x.shape[0]) < 2000
    assert best_correlation(audio.samples[0], x[:, 0]) > 0.95


@pytest.mark.parametrize(
    ("encoding", "subtype"),
    [
        ("pcm_u8", "PCM_U8"),
        ("pcm_s16le", "PCM_16"),
        ("pcm_s24le", "PCM_24"),
        ("pcm_s32le", "PCM_32"),
        ("pcm_f32le", "FLOAT"),
        ("mulaw", "ULAW"),
        ("alaw", "ALAW"),
    ],
)
def test_raw_pcm_matches_libsndfile_bit_for_bit(encoding, subtype):
    """Our numpy decoders (G.711 tables included) agree exactly with libsndfile's RAW reader."""
    sr = 8000
    x = tone(sr, 0.25, channels=2)
    x[::7, 0] = -1.0  # hit the extremes of every encoding
    x[::11, 1] = 0.999
    data = encode(x, sr, "RAW", subtype)
    expected, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True, format="RAW", subtype=subtype, samplerate=sr, channels=2, endian="LITTLE")
    audio = decode(data, raw=RawPcmSpec(sample_rate=sr, channels=2, encoding=encoding))
    assert audio.sample_rate == sr and audio.samples.shape == (2, x.shape[0])
    np.testing.assert_allclose(audio.samples, expected.T, rtol=0, atol=1e-7)
    assert audio.source_format == f"raw/{encoding}"


def test_mulaw_wav_as_call_centres_record_it_and_raw_mulaw_agree():
    x = tone(8000, 0.5)
    wav = decode(encode(x, 8000, "WAV", "ULAW"))
    raw = decode(encode(x, 8000, "RAW", "ULAW"), raw=RawPcmSpec(8000, 1, "mulaw"))
    np.testing.assert_array_equal(wav.samples, raw.samples)


def test_raw_pcm_with_a_partial_frame_is_corrupt():
    with pytest.raises(CorruptAudio, match="whole number of 4-byte frames"):
        decode(b"\x00" * 4001, raw=RawPcmSpec(16000, channels=2, encoding="pcm_s16le"))


def test_unknown_raw_encoding_is_unsupported():
    with pytest.raises(UnsupportedAudio, match="pcm_s12"):
        RawPcmSpec(16000, 1, "pcm_s12")


@pytest.mark.parametrize("garbage", [b"not audio at all" * 100, bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))])
def test_garbage_bytes_are_corrupt(garbage):
    with pytest.raises(CorruptAudio, match="could not decode audio"):
        decode(garbage)


def test_truncated_flac_is_rejected_or_short():
    data = encode(tone(16000, 1.0), 16000, "FLAC", "PCM_16")
    with pytest.raises(CorruptAudio):
        decode(data[:40])


def test_empty_payload_and_empty_file(tmp_path):
    with pytest.raises(EmptyAudio, match="empty"):
        decode(b"")
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudio):
        decode(path)


def test_zero_length_wav_is_empty():
    data = encode(np.zeros((0, 1), dtype=np.float32), 16000, "WAV", "PCM_16")
    assert len(data) > 0  # a valid header, no samples
    with pytest.raises(EmptyAudio, match="no samples"):
        decode(data)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_wav(bad):
    x = tone(16000, 0.5)
    x[1234, 0] = bad
    with pytest.raises(NonFiniteAudio, match="1 NaN or infinite"):
        decode(encode(x, 16000, "WAV", "FLOAT"))


def test_non_finite_raw_float():
    x = tone(16000, 0.5)[:, 0].copy()
    x[:3] = np.nan
    with pytest.raises(NonFiniteAudio, match="3 NaN"):
        decode(x.astype("<f4").tobytes(), raw=RawPcmSpec(16000, 1, "pcm_f32le"))


def test_shorter_than_min_ms():
    with pytest.raises(AudioTooShort, match="50 ms, under the minimum of 100 ms"):
        decode(encode(tone(16000, 0.05), 16000, "WAV", "PCM_16"))
    assert decode(encode(tone(16000, 0.1), 16000, "WAV", "PCM_16")).num_samples == 1600
    with pytest.raises(AudioTooShort):
        decode(np.zeros(800, "<i2").tobytes(), raw=RawPcmSpec(16000))


def test_too_long_is_refused_from_the_header_before_decoding(monkeypatch):
    data = encode(tone(8000, 3.0), 8000, "WAV", "PCM_16")

    def no_read(*args, **kwargs):
        raise AssertionError("samples were decoded before the duration check")

    monkeypatch.setattr(sf.SoundFile, "read", no_read)
    with pytest.raises(AudioTooLong, match="3.0 s, over the limit of 2.0 s"):
        decode(data, limits=AudioLimits(max_seconds=2.0))
    with pytest.raises(AudioTooLong):
        decode(np.zeros(8000 * 3, "<i2").tobytes(), raw=RawPcmSpec(8000), limits=AudioLimits(max_seconds=2.0))


def test_payload_over_max_bytes(tmp_path):
    data = encode(tone(16000, 0.5), 16000, "WAV", "PCM_16")
    limits = AudioLimits(max_bytes=len(data) - 1)
    with pytest.raises(PayloadTooLarge, match=f"{len(data)} bytes, over the limit"):
        decode(data, limits=limits)
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    with pytest.raises(PayloadTooLarge):
        decode(path, limits=limits)
    with pytest.raises(PayloadTooLarge):
        decode(data, raw=RawPcmSpec(16000), limits=limits)
    assert decode(data, limits=AudioLimits(max_bytes=len(data))).num_samples == 8000


def test_missing_path_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="nope.wav"):
        decode(tmp_path / "nope.wav")


def test_errors_are_invalid_input_for_the_services():
    from shared.errors import InvalidInput

    for exc in (EmptyAudio, CorruptAudio, NonFiniteAudio, AudioTooShort, AudioTooLong, PayloadTooLarge):
        assert issubclass(exc, InvalidInput)


def test_probe_reads_only_the_header(monkeypatch, tmp_path):
    data = encode(tone(8000, 1.5, channels=2), 8000, "WAV", "ALAW")
    monkeypatch.setattr(sf.SoundFile, "read", lambda *a, **k: pytest.fail("probe decoded samples"))
    info = probe(data)
    assert info == AudioInfo(8000, 2, 12000, 1.5, "WAV", "ALAW")
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    assert probe(path) == info
    assert probe(b"\x00" * 6400, raw=RawPcmSpec(16000, 2)) == AudioInfo(16000, 2, 1600, 0.1, "RAW", "PCM_S16LE")
    with pytest.raises(CorruptAudio):
        probe(b"garbage" * 50)


def test_limits_from_settings():
    s = Settings.from_env(env={"SER_MAX_AUDIO_MB": "2", "SER_MAX_AUDIO_SECONDS": "60", "SER_MIN_AUDIO_MS": "250"})
    assert AudioLimits.from_settings(s) == AudioLimits(max_bytes=2 * 1024 * 1024, max_seconds=60.0, min_ms=250)
    d = Settings()
    assert AudioLimits.from_settings(d) == AudioLimits()


def test_wav_header_claiming_more_data_than_present_still_decodes_what_is_there():
    data = bytearray(encode(tone(16000, 0.5), 16000, "WAV", "PCM_16"))
    # data chunk size at offset 40 in a canonical 44-byte header: claim 10x the real size
    (size,) = struct.unpack_from("<I", data, 40)
    struct.pack_into("<I", data, 40, size * 10)
    audio = decode(bytes(data))
    assert audio.num_samples == 8000
