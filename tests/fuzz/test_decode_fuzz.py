"""The audio decoder on hostile bytes: arbitrary bytes, and valid WAV/FLAC/OGG bytes mutated (flipped
bytes, truncation, header fields overwritten). Always an ``Audio`` or a ``SerError``, never another
exception, and never slow."""
from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from shared.audio.decode import RAW_ENCODINGS, AudioLimits, RawPcmSpec, decode
from shared.audio.types import Audio
from shared.errors import SerError
from tests.fuzz.budget import FUZZ

LIMITS = AudioLimits(max_bytes=1 << 20, max_seconds=60.0, min_ms=10)
SLOW_S = 5.0


def encoded(fmt: str, subtype: str, rate: int = 16000, channels: int = 2, seconds: float = 0.3) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    sf.write(buf, (0.2 * rng.standard_normal((int(rate * seconds), channels))).astype(np.float32), rate,
             format=fmt, subtype=subtype)
    return buf.getvalue()


SEEDS = {
    "wav16": encoded("WAV", "PCM_16"),
    "wav_float": encoded("WAV", "FLOAT", channels=1),
    "wav_ulaw": encoded("WAV", "ULAW", rate=8000, channels=1),
    "flac": encoded("FLAC", "PCM_16"),
    "ogg": encoded("OGG", "VORBIS", channels=1),
}


def check(data: bytes, **kwargs) -> None:
    started = time.perf_counter()
    try:
        audio = decode(data, limits=LIMITS, **kwargs)
    except SerError:
        pass
    else:
        assert isinstance(audio, Audio) and audio.samples.dtype == np.float32
        assert np.isfinite(audio.samples).all() and audio.samples.shape[1] > 0
    assert time.perf_counter() - started < SLOW_S, f"decoding {len(data)} bytes took too long"


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data):
    check(data)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.binary(min_size=1, max_size=64), st.integers(0, 10**6))
def test_arbitrary_bytes_behind_a_real_header(name, tail, cut):
    seed = SEEDS[name]
    check(seed[: min(len(seed), 44 + cut % 200)] + tail)


mutation = st.tuples(st.integers(0, 1 << 20), st.integers(0, 255))


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.lists(mutation, min_size=1, max_size=12), st.integers(0, 1 << 20),
       st.booleans())
def test_mutated_valid_files(name, flips, cut, truncate):
    data = bytearray(SEEDS[name])
    for position, value in flips:
        data[position % len(data)] = value
    if truncate:
        data = data[: cut % len(data)]
    check(bytes(data))


WAV_FIELDS = {"riff_size": 4, "fmt_size": 16, "format_tag": 20, "channels": 22, "rate": 24, "byte_rate": 28,
              "block_align": 32, "bits": 34, "data_size": 40}
WIDTH = {"channels": "<H", "format_tag": "<H", "block_align": "<H", "bits": "<H"}


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(sorted(WAV_FIELDS)), st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_wav_header_fields_set_to_hostile_values(fields):
    data = bytearray(SEEDS["wav16"])
    for name, value in fields:
        fmt = WIDTH.get(name, "<I")
        struct.pack_into(fmt, data, WAV_FIELDS[name], value % (1 << (8 * struct.calcsize(fmt))))
    check(bytes(data))


@FUZZ
@given(st.binary(max_size=4096), st.integers(-10, 200000), st.integers(-2, 20), st.sampled_from(RAW_ENCODINGS))
def test_raw_pcm_with_arbitrary_layouts(data, rate, channels, encoding):
    try:
        spec = RawPcmSpec(sample_rate=rate, channels=channels, encoding=encoding)
    except SerError:
        return
    check(data, raw=spec)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_seeds_decode(name):
    assert decode(SEEDS[name], limits=LIMITS).samples.shape[1] > 0
