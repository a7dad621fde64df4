"""A whole call in bounded memory: the upload spooled to disk, decoded block by block, its PCM kept on disk.

Why: calls run 5 to 60 minutes and more. A one-hour 16 kHz stereo call is 460 MB as float32,
more than a gRPC message may carry and more than a gateway should hold per request. So the
gateway writes the encoded upload to a temporary file (counting it against SER_MAX_AUDIO_MB as
it arrives), decodes that file one block at a time at its own sample rate, and appends each block
as float32 to a second temporary file, from which every speech segment is read back by offset.
Memory per call is one block plus one segment, whatever the length; disk is the encoded file plus
4 bytes per sample. Both files live in one temporary folder (under TMPDIR) that is removed when
the call ends, however it ends.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np

from services.common.convert import MAX_CHANNELS, MAX_RATE_HZ, MIN_RATE_HZ
from shared.audio.channels import mixdown
from shared.audio.decode import AudioLimits, RawPcmSpec, check_duration, decode, probe
from shared.audio.stream import iter_blocks
from shared.audio.types import Audio
from shared.errors import AudioError, CorruptAudio, EmptyAudio, PayloadTooLarge, UnsupportedAudio

BLOCK_SECONDS = 10.0
FLOAT_BYTES = 4


class CallSpool:
    """A temporary folder with one call's upload (``upload``) and decoded PCM (``pcm.f32``); gone on close."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.folder = Path(tempfile.mkdtemp(prefix="ser-call-"))
        self.upload_path = self.folder / "upload"
        self.pcm_path = self.folder / "pcm.f32"
        self._upload = open(self.upload_path, "wb")  # noqa: SIM115 - closed by finish_upload or close

    def add(self, chunk: bytes) -> None:
        """Append upload bytes; refuses the upload as soon as it passes SER_MAX_AUDIO_MB."""
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"upload passed {self.size} bytes, over the limit of {self.max_bytes} bytes "
                                  f"(SER_MAX_AUDIO_MB={self.max_bytes / 2**20:g})")
        self._upload.write(chunk)

    def finish_upload(self) -> Path:
        self._upload.close()
        if self.size == 0:
            raise EmptyAudio("the upload carried no audio (0 bytes)")
        return self.upload_path

    def close(self) -> None:
        self._upload.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> CallSpool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class CallDecoder:
    """An uploaded file's header facts and its float32 blocks (channels, n) at the file's own rate.

    The header (or, for raw PCM, the byte count) is checked against the limits before any block
    is decoded, so a bad or oversized upload is refused before any downstream work starts.
    """

    def __init__(self, path: Path, limits: AudioLimits, *, raw: RawPcmSpec | None = None, mix_down: bool = False,
                 block_seconds: float = BLOCK_SECONDS) -> None:
        self.path, self.limits, self.raw, self.mix_down = path, limits, raw, mix_down
        self.block_seconds = block_seconds
        with unnamed(path):
            rate, channels, frames = self._header()
        check_rate_and_channels(rate, channels)
        check_duration(frames, rate, limits)
        self.sample_rate, self.source_channels = rate, channels
        self.channels = 1 if mix_down else channels
        self.header_seconds = frames / float(rate)

    def _header(self) -> tuple[int, int, int]:
        """(sample rate, channels, frames) from the header, or for raw PCM from the byte count."""
        raw, path = self.raw, self.path
        if raw is not None:
            size = path.stat().st_size
            if size % raw.frame_bytes:
                raise CorruptAudio(f"raw PCM upload of {size} bytes is not a whole number of {raw.frame_bytes}-byte "
                                   f"frames ({raw.encoding}, {raw.channels} channel(s))")
            return raw.sample_rate, raw.channels, size // raw.frame_bytes
        info = probe(path, limits=self.limits)
        return info.sample_rate, info.channels, info.frames

    def blocks(self) -> Iterator[np.ndarray]:
        """(channels, n) float32 blocks, mixed down when asked; decoding errors raise typed AudioErrors."""
        source = self._raw_blocks() if self.raw is not None else (
            block for _, block in iter_blocks(self.path, self.block_seconds, target_rate=None, limits=self.limits))
        with unnamed(self.path):
            for block in source:
                yield mixdown(Audio(samples=block, sample_rate=self.sample_rate)).samples if self.mix_down else block

    def _raw_blocks(self) -> Iterator[np.ndarray]:
        assert self.raw is not None
        spec = self.raw
        per_block = spec.frame_bytes * max(1, int(self.block_seconds * spec.sample_rate))
        limits = AudioLimits(max_bytes=per_block, max_seconds=math.inf, min_ms=0)  # the whole was checked already
        with open(self.path, "rb") as f:
            while data := f.read(per_block):
                yield decode(data, raw=spec, limits=limits).samples


@contextmanager
def unnamed(path: Path) -> Iterator[None]:
    """Audio errors that name the spool file name "the upload" instead: server paths stay on the server."""
    try:
        yield
    except AudioError as exc:
        message = str(exc).replace(f"'{path}'", "the upload").replace(str(path), "the upload")
        raise type(exc)(message) from None


def check_rate_and_channels(rate: int, channels: int) -> None:
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise UnsupportedAudio(f"audio at {rate} Hz is outside the supported {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise UnsupportedAudio(f"audio has {channels} channels; 1..{MAX_CHANNELS} are supported")


def interleaved(block: np.ndarray) -> bytes:
    """(channels, n) float32 -> little-endian float32 frames, channels interleaved (the PCM wire layout)."""
    return np.ascontiguousarray(block.T, dtype="<f4").tobytes()


class PcmFile:
    """Float32 frames (channels interleaved) appended block by block, then read back one channel's span at a time."""

    def __init__(self, path: Path, sample_rate: int, channels: int) -> None:
        self.path, self.sample_rate, self.channels = path, sample_rate, channels
        self.frame_bytes = FLOAT_BYTES * channels
        self._writer = open(path, "wb")  # noqa: SIM115 - closed by finish
        self._fd: int | None = None
        self.frames = 0

    def append(self, frames: bytes) -> None:
        self._writer.write(frames)
        self.frames += len(frames) // self.frame_bytes

    def finish(self) -> None:
        """Done writing: open the file for reading."""
        self._writer.close()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)

    def cut(self, channel: int, start_ms: int, end_ms: int) -> np.ndarray:
        """Mono float32 samples of ``channel`` in [start_ms, end_ms) (clipped to what was written). Before
        ``finish`` it reads what has been appended so far (a segment is cut as soon as the VAD closes it,
        while later blocks are still being written, possibly from another thread)."""
        if not self._writer.closed:
            self._writer.flush()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        if not 0 <= channel < self.channels:
            raise ValueError(f"channel {channel} outside 0..{self.channels - 1}")
        a = min(self.frames, start_ms * self.sample_rate // 1000)
        b = min(self.frames, max(a, end_ms * self.sample_rate // 1000))
        data = os.pread(self._fd, (b - a) * self.frame_bytes, a * self.frame_bytes)
        return np.frombuffer(data, "<f4").reshape(-1, self.channels)[:, channel].astype(np.float32)

    def close(self) -> None:
        self._writer.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PcmFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
