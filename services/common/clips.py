"""Request audio -> the mono clips a feature or speaker RPC works on, one per output item.

Shared by the features and speaker services so both cut recordings the same way: decode with the
audio core's limits, resample to the rate asked for, then either mix the whole recording down to
one clip (no segments) or cut each segment from its own channel. A segment that cannot be cut
(unknown channel, past the end, shorter than the minimum) becomes a per-item error, never a
failed request; audio that does not decode fails the request (INVALID_ARGUMENT).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ser.v1 import common_pb2

from services.common.convert import audio_payload_to_source, segment_from_proto
from shared.audio.channels import mixdown
from shared.audio.decode import AudioLimits, decode
from shared.audio.resample import resample
from shared.audio.types import Audio
from shared.errors import AudioTooShort, InvalidInput, SerError


@dataclass
class Clip:
    """One output item: its samples, or the error that stopped it."""

    segment: common_pb2.Segment | None  # None: the whole recording
    samples: np.ndarray | None
    error: SerError | None = None
    channel: int = 0


def decode_request_audio(payload: common_pb2.AudioPayload, limits: AudioLimits, rate: int) -> Audio:
    data, raw = audio_payload_to_source(payload)
    return resample(decode(data, limits=limits, raw=raw), rate)


def cut_segment(audio: Audio, message: common_pb2.Segment, min_ms: int) -> Clip:
    try:
        segment = segment_from_proto(message)
        if segment.channel >= audio.num_channels:
            raise InvalidInput(f"segment channel {segment.channel} but the audio has {audio.num_channels} channel(s)")
        samples = segment.slice(audio.channel(segment.channel), audio.sample_rate)
        got_ms = 1000.0 * len(samples) / audio.sample_rate
        if got_ms < min_ms:
            raise AudioTooShort(
                f"segment [{segment.start_ms}, {segment.end_ms}) ms has {got_ms:.0f} ms of audio; at least {min_ms} ms needed"
            )
    except SerError as exc:
        return Clip(message, None, exc, channel=int(message.channel))
    return Clip(message, np.ascontiguousarray(samples, dtype=np.float32), channel=segment.channel)


def clips_of(audio: Audio, segments: Sequence[common_pb2.Segment], min_ms: int) -> list[Clip]:
    """The whole recording mixed down, or one clip per segment."""
    if not segments:
        return [Clip(None, np.ascontiguousarray(mixdown(audio).samples[0], dtype=np.float32))]
    return [cut_segment(audio, s, min_ms) for s in segments]


def channel_clips(audio: Audio, segments: Sequence[common_pb2.Segment], min_ms: int) -> list[Clip]:
    """One clip per channel: the concatenation of its segments, or the whole channel without segments.

    Here a segment that cannot be cut fails the request: dropping it would silently change what
    the channel's clip is made of.
    """
    if not segments:
        return [Clip(None, np.ascontiguousarray(audio.channel(c), dtype=np.float32), channel=c)
                for c in range(audio.num_channels)]
    by_channel: dict[int, list[Clip]] = {}
    for clip in (cut_segment(audio, s, 0) for s in segments):
        if clip.error is not None:
            raise clip.error
        by_channel.setdefault(clip.channel, []).append(clip)
    out = []
    for channel in sorted(by_channel):
        samples = np.concatenate([c.samples for c in by_channel[channel] if c.samples is not None])
        clip = Clip(None, samples, channel=channel)
        if 1000.0 * len(samples) / audio.sample_rate < min_ms:
            clip = Clip(None, None, AudioTooShort(f"channel {channel} has under {min_ms} ms of segments"), channel=channel)
        out.append(clip)
    return out


def error_detail(error: SerError, field: str = "") -> common_pb2.ErrorDetail:
    return common_pb2.ErrorDetail(code=error.code, message=str(error), field=field)
