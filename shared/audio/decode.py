"""Decode any audio a caller may send (bytes or a path) into float32 ``Audio``, refusing bad input early.

Containers go through libsndfile (``soundfile``): WAV (PCM, float, mu-law, A-law), FLAC, OGG/Vorbis,
OGG/Opus and MP3 (libsndfile >= 1.1). Headerless PCM needs a ``RawPcmSpec`` and is decoded with numpy,
G.711 included, so telephony streams work without a container. Every check that can be made from
the header (size, duration, emptiness) runs before the samples are read, so an oversized upload
costs a header read, not a decode.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from shared.audio.types import Audio
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

Source = bytes | bytearray | memoryview | str | os.PathLike

SUPPORTED_CONTAINERS = "WAV (PCM/float/mu-law/A-law), FLAC, OGG/Vorbis, OGG/Opus, MP3"
# below telephony rates a few KB of header-true audio would resample to hours at 16 kHz (found by fuzzing)
MIN_SAMPLE_RATE = 8000


@dataclass(frozen=True)
class AudioLimits:
    """What the decoder accepts; defaults match ``shared.settings.Settings``."""

    max_bytes: int = 512 * 1024 * 1024
    max_seconds: float = 4 * 3600.0
    min_ms: int = 100

    @classmethod
    def from_settings(cls, settings: Any) -> AudioLimits:
        return cls(
            max_bytes=int(settings.max_audio_bytes),
            max_seconds=float(settings.max_audio_seconds),
            min_ms=int(settings.min_audio_ms),
        )


# bytes per sample of each raw encoding
_RAW_WIDTH: dict[str, int] = {
    "pcm_u8": 1,
    "pcm_s16le": 2,
    "pcm_s24le": 3,
    "pcm_s32le": 4,
    "pcm_f32le": 4,
    "mulaw": 1,
    "alaw": 1,
}
RAW_ENCODINGS: tuple[str, ...] = tuple(_RAW_WIDTH)


@dataclass(frozen=True)
class RawPcmSpec:
    """Layout of headerless, interleaved little-endian PCM."""

    sample_rate: int
    channels: int = 1
    encoding: str = "pcm_s16le"

    def __post_init__(self) -> None:
        if self.encoding not in _RAW_WIDTH:
            raise UnsupportedAudio(f"unknown raw PCM encoding {self.encoding!r}; known: {', '.join(RAW_ENCODINGS)}")
        if self.sample_rate <= 0:
            raise UnsupportedAudio(f"raw PCM sample_rate must be positive, got {self.sample_rate}")
        if self.channels <= 0:
            raise UnsupportedAudio(f"raw PCM channels must be positive, got {self.channels}")

    @property
    def sample_width(self) -> int:
        return _RAW_WIDTH[self.encoding]

    @property
    def frame_bytes(self) -> int:
        return self.sample_width * self.channels


@dataclass(frozen=True)
class AudioInfo:
    """Header facts, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    format: str
    subtype: str


def _g711_tables() -> tuple[np.ndarray, np.ndarray]:
    """ITU-T G.711 mu-law and A-law byte -> float32 tables (same values libsndfile produces)."""
    b = np.arange(256, dtype=np.int32)
    u = ~b & 0xFF
    mag = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    mu = np.where(u & 0x80, 0x84 - mag, mag - 0x84)
    a = b ^ 0x55
    exp = (a >> 4) & 0x07
    mant = a & 0x0F
    amag = np.where(exp == 0, (mant << 4) + 8, ((mant << 4) + 0x108) << np.maximum(exp - 1, 0))
    al = np.where(a & 0x80, amag, -amag)
    return (mu / 32768.0).astype(np.float32), (al / 32768.0).astype(np.float32)


def _read_source_bytes(source: Source, limits: AudioLimits) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = _checked_path(source, limits)
        data = path.read_bytes()
    _check_size(len(data), limits)
    return data


def _checked_path(source: str | os.PathLike, limits: AudioLimits) -> Path:
    path = Path(source)
    if not path.is_file():
        raise NotFound(f"audio file not found: {path}")
    _check_size(path.stat().st_size, limits)
    return path


def _check_size(n: int, limits: AudioLimits) -> None:
    if n == 0:
        raise EmptyAudio("audio payload is empty (0 bytes)")
    if n > limits.max_bytes:
        raise PayloadTooLarge(f"audio payload is {n} bytes, over the limit of {limits.max_bytes} bytes")


def check_duration(frames: int, sample_rate: int, limits: AudioLimits) -> None:
    if frames <= 0:
        raise EmptyAudio("audio contains no samples (zero-length)")
    seconds = frames / float(sample_rate)
    if seconds > limits.max_seconds:
        raise AudioTooLong(f"audio lasts {seconds:.1f} s, over the limit of {limits.max_seconds:.1f} s")
    if seconds * 1000.0 < limits.min_ms:
        raise AudioTooShort(f"audio lasts {seconds * 1000.0:.0f} ms, under the minimum of {limits.min_ms} ms")


def check_finite(samples: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise NonFiniteAudio(f"audio contains {bad} NaN or infinite sample(s)")


def open_checked(source: Source, limits: AudioLimits) -> sf.SoundFile:
    """Open with libsndfile after the size check, translating its errors into typed ones."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_size(len(source), limits)
        target: Any = io.BytesIO(source)  # shares an immutable bytes buffer, no copy
    else:
        target = str(_checked_path(source, limits))
    try:
        return sf.SoundFile(target)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise as_audio_error(exc) from exc


def as_audio_error(exc: Exception) -> Exception:
    """libsndfile cannot tell a damaged file from an exotic one reliably, so both are CorruptAudio."""
    msg = str(exc).replace("<_io.BytesIO object", "<bytes").strip()
    return CorruptAudio(
        f"could not decode audio, corrupt or in an unsupported encoding ({msg or type(exc).__name__}); "
        f"expected {SUPPORTED_CONTAINERS}, or raw PCM with an explicit sample rate, width and channel count"
    )


def probe(source: Source, *, raw: RawPcmSpec | None = None, limits: AudioLimits | None = None) -> AudioInfo:
    """Header facts without decoding; raw PCM is sized from its byte length."""
    limits = limits or AudioLimits()
    if raw is not None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            n = len(source)
        else:
            n = _checked_path(source, limits).stat().st_size
        frames = n // raw.frame_bytes
        return AudioInfo(raw.sample_rate, raw.channels, frames, frames / raw.sample_rate, "RAW", raw.encoding.upper())
    with open_checked(source, limits) as f:
        return AudioInfo(
            sample_rate=int(f.samplerate),
            channels=int(f.channels),
            frames=int(f.frames),
            duration_s=f.frames / float(f.samplerate) if f.samplerate else 0.0,
            format=str(f.format),
            subtype=str(f.subtype),
        )


def decode(
    source: Source,
    *,
    limits: AudioLimits | None = None,
    raw: RawPcmSpec | None = None,
) -> Audio:
    """Bytes or a path -> ``Audio`` (float32, (channels, samples), native sample rate).

    Raises EmptyAudio, CorruptAudio, UnsupportedAudio, NonFiniteAudio, AudioTooShort, AudioTooLong,
    PayloadTooLarge (all ``InvalidInput``) or NotFound for a missing path.
    """
    limits = limits or AudioLimits()
    if raw is not None:
        return _decode_raw(_read_source_bytes(source, limits), raw, limits)
    with open_checked(source, limits) as f:
        if f.samplerate <= 0 or f.channels <= 0:
            raise CorruptAudio(f"audio header is invalid: {f.samplerate} Hz, {f.channels} channel(s)")
        if f.samplerate < MIN_SAMPLE_RATE:
            raise UnsupportedAudio(f"audio at {f.samplerate} Hz is below the minimum of {MIN_SAMPLE_RATE} Hz")
        check_duration(int(f.frames), int(f.samplerate), limits)
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise as_audio_error(exc) from exc
        rate, fmt = int(f.samplerate), f"{f.format}/{f.subtype}".lower()
    samples = np.ascontiguousarray(data.T)
    # the header may promise more than a truncated file holds: re-check on what was really read
    check_duration(samples.shape[1], rate, limits)
    check_finite(samples)
    return Audio(samples=samples, sample_rate=rate, source_format=fmt)


def _decode_raw(data: bytes, spec: RawPcmSpec, limits: AudioLimits) -> Audio:
    if len(data) % spec.frame_bytes:
        raise CorruptAudio(
            f"raw PCM payload of {len(data)} bytes is not a whole number of {spec.frame_bytes}-byte frames "
            f"({spec.encoding}, {spec.channels} channel(s))"
        )
    check_duration(len(data) // spec.frame_bytes, spec.sample_rate, limits)
    flat = _raw_to_float(data, spec.encoding)
    check_finite(flat)
    samples = np.ascontiguousarray(flat.reshape(-1, spec.channels).T)
    return Audio(samples=samples, sample_rate=spec.sample_rate, source_format=f"raw/{spec.encoding}")


def _raw_to_float(data: bytes, encoding: str) -> np.ndarray:
    if encoding == "pcm_u8":
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    if encoding == "pcm_s16le":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    if encoding == "pcm_s24le":
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        return (v / 8388608.0).astype(np.float32)
    if encoding == "pcm_s32le":
        return (np.frombuffer(data, "<i4") / 2147483648.0).astype(np.float32)
    if encoding == "pcm_f32le":
        return np.frombuffer(data, "<f4").astype(np.float32)
    mu, al = _g711_tables()
    table = mu if encoding == "mulaw" else al
    return table[np.frombuffer(data, np.uint8)]
