"""ser.v1.Speaker/Diarize: a config, then one channel's PCM in chunks -> turns with participant names.

Request parsing and response building only; the science is ``shared.diarization``. The PCM is
decoded and resampled to 16 kHz as it arrives and held once at 16 kHz (a 60-minute call: 230 MB),
bounded by SER_MAX_AUDIO_SECONDS.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import grpc
import numpy as np
from ser.v1 import common_pb2, speaker_pb2

from services.common.convert import pcm_format_to_spec
from services.common.deadlines import checked, ensure_active
from shared.audio.decode import AudioLimits, RawPcmSpec, decode
from shared.audio.resample import StreamResampler
from shared.diarization.config import MAX_SPEAKERS, DiarizationConfig
from shared.diarization.pipeline import diarize
from shared.diarization.projection import SpeakerProjection
from shared.diarization.roles import OVERLAP, speaker_roles
from shared.errors import AudioTooLong, CorruptAudio, EmptyAudio, InvalidInput
from shared.speaker.encoder import SAMPLE_RATE, SpeakerEncoder

MAX_CHUNK_BYTES = 1 << 31  # one message's chunk; gRPC's message limit is the real bound


def diarization_config(config: speaker_pb2.DiarizeConfig) -> DiarizationConfig:
    """The request's options, checked by ``DiarizationConfig`` (``InvalidInput`` names the bad field)."""
    return DiarizationConfig(num_speakers=config.num_speakers, max_speakers=config.max_speakers or MAX_SPEAKERS,
                             detect_overlap=not config.skip_overlap)


def speech_regions(segments: Iterable[common_pb2.Segment]) -> list[tuple[int, int]]:
    regions = []
    for s in segments:
        if s.start_ms < 0 or s.end_ms <= s.start_ms:
            raise InvalidInput(f"speech region [{s.start_ms}, {s.end_ms}) ms is empty or negative")
        regions.append((int(s.start_ms), int(s.end_ms)))
    return regions


def read_pcm(chunks: Iterator[speaker_pb2.DiarizeRequest], spec: RawPcmSpec, max_seconds: float) -> np.ndarray:
    """The channel at 16 kHz float32, decoded and resampled chunk by chunk as it arrives (frames may
    straddle chunks): memory is the 16 kHz signal, whatever the source rate and encoding."""
    limits = AudioLimits(max_bytes=MAX_CHUNK_BYTES, max_seconds=math.inf, min_ms=0)
    resampler = StreamResampler(spec.sample_rate, SAMPLE_RATE)
    pending, frames, parts = b"", 0, []
    for message in chunks:
        if message.WhichOneof("kind") != "chunk":
            raise InvalidInput("Diarize accepts `config` only once, as the first message")
        data = pending + message.chunk
        usable = len(data) - len(data) % spec.frame_bytes
        pending = data[usable:]
        if not usable:
            continue
        samples = decode(data[:usable], raw=spec, limits=limits).samples
        frames += samples.shape[1]
        if frames > max_seconds * spec.sample_rate:
            raise AudioTooLong(f"Diarize audio passed {max_seconds:.0f} s (SER_MAX_AUDIO_SECONDS)")
        parts.append(resampler.push(samples)[0])
    if pending:
        raise CorruptAudio(f"the PCM ends with {len(pending)} byte(s), not a whole {spec.frame_bytes}-byte frame")
    if not frames:
        raise EmptyAudio("Diarize got no audio")
    parts.append(resampler.flush()[0])
    return np.concatenate(parts).astype(np.float32, copy=False)


def diarize_stream(requests: Iterable[speaker_pb2.DiarizeRequest], context: grpc.ServicerContext,
                   encoder: SpeakerEncoder, roles: tuple[str, ...], limits: AudioLimits,
                   projection: SpeakerProjection | None = None) -> speaker_pb2.DiarizeResponse:
    messages = checked(requests, context, what="diarize stream")
    first = next(messages, None)
    if first is None or first.WhichOneof("kind") != "config":
        raise InvalidInput("the first Diarize message must carry `config` (PCM format, speech regions, options)")
    config = first.config
    spec = pcm_format_to_spec(config.format)
    if spec.channels != 1:
        raise InvalidInput(f"Diarize takes one channel, the format says {spec.channels}")
    options = diarization_config(config)
    names = tuple(config.roles) or roles
    speaker_roles(MAX_SPEAKERS, names, config.first_speaker_role)  # bad roles fail before any audio work
    regions = speech_regions(config.speech)
    x16k = read_pcm(messages, spec, limits.max_seconds)
    ensure_active(context)
    result = diarize(x16k, regions, encoder, options, projection)
    participants = speaker_roles(result.num_speakers, names, config.first_speaker_role)
    response = speaker_pb2.DiarizeResponse(request_id=config.request_id, participants=participants,
                                           num_speakers=result.num_speakers, windows=result.windows,
                                           encoder=common_pb2.ModelRef(name=encoder.name))
    for turn in result.turns:
        who = [participants[s] for s in turn.speakers]
        response.turns.add(segment=common_pb2.Segment(channel=0, speaker=OVERLAP if turn.overlap else who[0],
                                                      start_ms=turn.start_ms, end_ms=turn.end_ms),
                           overlap=turn.overlap, participants=who)
    return response
