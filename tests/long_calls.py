"""Long stereo calls for tests and benchmarks: the sample call (real espeak speech, channel 0 agent,
channel 1 customer) tiled to any length, as 16 kHz 16-bit PCM or 8 kHz G.711 mu-law WAV.

Written tile by tile, so an hour-long call never sits in memory whole.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from shared.assets import sample_call_path

# (sample rate, soundfile subtype) of the two recordings a contact centre sends
PCM16 = (16000, "PCM_16")
MULAW8K = (8000, "ULAW")


def sample_call(rate: int) -> np.ndarray:
    """The sample call as float32 (frames, 2) at ``rate`` (soxr VHQ when it is not 16 kHz)."""
    data, source_rate = sf.read(sample_call_path(), dtype="float32", always_2d=True)
    if rate != source_rate:
        data = soxr.resample(data, source_rate, rate, quality="VHQ").astype(np.float32)
    return np.clip(data, -1.0, 1.0)


def write_call(target: Path | io.BytesIO, seconds: float, *, rate: int = 16000, subtype: str = "PCM_16") -> float:
    """A WAV of the sample call tiled to ``seconds`` (cut mid-tile at the end); returns its duration, s."""
    tile = sample_call(rate)
    total = int(round(seconds * rate))
    written = 0
    with sf.SoundFile(target, "w", samplerate=rate, channels=tile.shape[1], subtype=subtype, format="WAV") as f:
        while written < total:
            part = tile[: total - written]
            f.write(part)
            written += len(part)
    return written / rate


def call_bytes(seconds: float, *, rate: int = 16000, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    write_call(buffer, seconds, rate=rate, subtype=subtype)
    return buffer.getvalue()


def tile_seconds() -> float:
    return sf.info(sample_call_path()).duration
