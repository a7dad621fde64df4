"""Bounded-memory processing of long recordings: read, resample and segment block by block.

A one-hour 16 kHz stereo call is 460 MB as float32; here at most one block (30 s by default) of
it is in memory, plus the VAD's fixed state, whatever the length.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import soundfile as sf

from shared.audio.channels import DEFAULT_ROLES, roles_for
from shared.audio.decode import AudioLimits, as_audio_error, check_duration, check_finite, open_checked
from shared.audio.resample import StreamResampler
from shared.audio.types import Segment
from shared.audio.vad import SileroVad, StreamingSegmenter, VadConfig


def iter_blocks(
    path: str | os.PathLike,
    block_seconds: float = 30.0,
    *,
    target_rate: int | None = 16000,
    limits: AudioLimits | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start frame, (channels, n) float32) at ``target_rate`` (None: the file's own rate).

    The header is checked against ``limits`` before the first block is read; resampling runs
    through one ``StreamResampler`` (soxr VHQ) so block edges leave no seams. Start frames count output
    frames, so block k starts where block k-1 ended.
    """
    limits = limits or AudioLimits()
    if block_seconds <= 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    with open_checked(path, limits) as f:
        rate, channels = int(f.samplerate), int(f.channels)
        check_duration(int(f.frames), rate, limits)
        rs = StreamResampler(rate, target_rate or rate, channels)
        blocksize = max(1, int(round(block_seconds * rate)))
        start = 0
        try:
            for block in f.blocks(blocksize=blocksize, dtype="float32", always_2d=True):
                check_finite(block)
                y = rs.push(block.T)
                if y.shape[1]:
                    yield start, y
                    start += y.shape[1]
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise as_audio_error(exc) from exc
        tail = rs.flush()
        if tail.shape[1]:
            yield start, tail


def segment_file(
    path: str | os.PathLike,
    config: VadConfig,
    vad: SileroVad,
    *,
    keep_channels: bool = True,
    roles: Sequence[str] = DEFAULT_ROLES,
    limits: AudioLimits | None = None,
    block_seconds: float = 30.0,
) -> list[Segment]:
    """Like ``segment_audio(decode(path))`` but in bounded memory; sorted by start, then channel."""
    with open_checked(path, limits or AudioLimits()) as f:
        channels = int(f.channels)
    n_out = channels if keep_channels else 1
    names = roles_for(n_out, roles)
    segmenters = [StreamingSegmenter(vad, config, channel=c, speaker=names[c]) for c in range(n_out)]
    out: list[Segment] = []
    for _, block in iter_blocks(path, block_seconds, target_rate=config.sample_rate, limits=limits):
        if not keep_channels and block.shape[0] > 1:
            block = block.mean(axis=0, keepdims=True)
        for seg, x in zip(segmenters, block, strict=True):
            out += seg.push(x)
    for seg in segmenters:
        out += seg.flush()
    return sorted(out, key=lambda s: (s.start_ms, s.channel))
