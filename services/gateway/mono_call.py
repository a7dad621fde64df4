"""Mono calls: who spoke when, so a one-channel call gets participants as a stereo call does.

AnalyzeCall/AnalyzeUpload ask the speaker service's Diarize for the turns of the single channel (the
whole channel's PCM from the spool, with preprocess's VAD segments as the speech regions) and
analyse each turn as a segment with ``speaker`` = its participant. Overlap turns are analysed too,
as participant "overlap": they count towards no participant's summary, only towards the silence
summary's ``overlap_ms`` (``shared.analytics.call``). The inference service's per-speaker
normalisation groups by ``speaker_group``, which is channel *and* participant (``speaker_group``),
so a diarized call is normalised per participant and a stereo call per channel, as before.
AnalyzeStream stays per channel: diarization needs the whole call.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import grpc
import numpy as np
from ser.v1 import analysis_pb2, common_pb2, speaker_pb2, speaker_pb2_grpc

from services.gateway.call_audio import PcmFile
from shared.analytics.timeline import TimelineEntry
from shared.diarization.config import MAX_SPEAKERS
from shared.diarization.roles import OVERLAP, speaker_roles
from shared.errors import InvalidInput
from shared.settings import Settings

CHUNK_MS = 10_000
_MODES = {"auto": analysis_pb2.CALL_MODE_AUTO, "channels": analysis_pb2.CALL_MODE_CHANNELS,
          "diarize": analysis_pb2.CALL_MODE_DIARIZE}


@dataclass(frozen=True)
class Diarized:
    segments: list[common_pb2.Segment]
    roles: list[str]                                   # participants by first appearance
    overlaps: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)  # (start, end) -> both


def roles_of(options: analysis_pb2.AnalyzeOptions, settings: Settings) -> tuple[str, ...]:
    return tuple(options.channel_roles) or settings.channel_roles


def call_mode(options: analysis_pb2.AnalyzeOptions, settings: Settings) -> int:
    """The options' mode, checked; unspecified = SER_CALL_MODE. Bad diarization options fail here,
    before any audio work."""
    if options.call_mode not in analysis_pb2.CallMode.values():
        raise InvalidInput(f"unknown call_mode {options.call_mode}")
    if options.num_speakers > MAX_SPEAKERS:
        raise InvalidInput(f"num_speakers must be 0 (estimate) or 1..{MAX_SPEAKERS}, got {options.num_speakers}")
    roles = roles_of(options, settings)
    if options.first_speaker_role and options.first_speaker_role not in roles:
        raise InvalidInput(f"first speaker role {options.first_speaker_role!r} is not one of the roles {list(roles)}")
    return options.call_mode or _MODES[settings.call_mode]


def mixes_down(options: analysis_pb2.AnalyzeOptions, settings: Settings) -> bool:
    return options.mix_down or call_mode(options, settings) == analysis_pb2.CALL_MODE_DIARIZE


def diarizes(options: analysis_pb2.AnalyzeOptions, settings: Settings, channels: int) -> bool:
    """Whether this call is diarized; its roles are then checked (distinct, "overlap" reserved)."""
    mode = call_mode(options, settings)
    diarized = mode == analysis_pb2.CALL_MODE_DIARIZE or (mode == analysis_pb2.CALL_MODE_AUTO and channels == 1)
    if diarized:
        speaker_roles(MAX_SPEAKERS, roles_of(options, settings), options.first_speaker_role)
    return diarized


def check_stream(options: analysis_pb2.AnalyzeOptions, settings: Settings) -> None:
    if options.call_mode == analysis_pb2.CALL_MODE_DIARIZE:
        raise InvalidInput("AnalyzeStream analyses live audio per channel; diarization needs the whole call "
                           "(use AnalyzeCall or AnalyzeUpload)")
    call_mode(options, settings)


def diarize_requests(segments: Sequence[common_pb2.Segment], pcm: PcmFile, options: analysis_pb2.AnalyzeOptions,
                     settings: Settings, call_id: str) -> Iterator[speaker_pb2.DiarizeRequest]:
    yield speaker_pb2.DiarizeRequest(config=speaker_pb2.DiarizeConfig(
        format=common_pb2.PcmFormat(sample_rate_hz=pcm.sample_rate, channels=1,
                                    encoding=common_pb2.PCM_ENCODING_F32LE),
        speech=[common_pb2.Segment(start_ms=s.start_ms, end_ms=s.end_ms) for s in segments],
        num_speakers=options.num_speakers, roles=list(roles_of(options, settings)),
        first_speaker_role=options.first_speaker_role, skip_overlap=options.skip_overlap, request_id=call_id))
    duration_ms = 1000 * pcm.frames // pcm.sample_rate + 1
    for start in range(0, duration_ms, CHUNK_MS):
        yield speaker_pb2.DiarizeRequest(chunk=np.ascontiguousarray(pcm.cut(0, start, start + CHUNK_MS), "<f4")
                                         .tobytes())


def diarize_call(stub: speaker_pb2_grpc.SpeakerStub, segments: Sequence[common_pb2.Segment], pcm: PcmFile,
                 options: analysis_pb2.AnalyzeOptions, settings: Settings, call_id: str, timeout: float,
                 context: grpc.ServicerContext) -> Diarized:
    """The call's turns as segments to analyse (sorted by start)."""
    if not segments:
        return Diarized([], list(speaker_roles(1, roles_of(options, settings), options.first_speaker_role)))
    future = stub.Diarize.future(diarize_requests(segments, pcm, options, settings, call_id), timeout=timeout)
    context.add_callback(future.cancel)
    reply = future.result()
    turns = [common_pb2.Segment(channel=0, speaker=t.segment.speaker, start_ms=t.segment.start_ms,
                                end_ms=t.segment.end_ms) for t in reply.turns]
    overlaps = {(t.segment.start_ms, t.segment.end_ms): tuple(t.participants) for t in reply.turns if t.overlap}
    return Diarized(sorted(turns, key=lambda s: s.start_ms), list(reply.participants), overlaps)


def mark_overlaps(entries: Sequence[TimelineEntry], overlaps: dict[tuple[int, int], tuple[str, ...]]
                  ) -> list[TimelineEntry]:
    return [replace(e, overlap_participants=overlaps[(e.start_ms, e.end_ms)])
            if e.participant == OVERLAP and (e.start_ms, e.end_ms) in overlaps else e for e in entries]
