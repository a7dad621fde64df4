"""ser.v1.Preprocess over ``shared.audio``: request parsing and response building only, no signal processing."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import grpc
from ser.v1 import preprocess_pb2, preprocess_pb2_grpc

from services.common.convert import (
    audio_payload_to_source,
    ndarray_to_tensor,
    pcm_format_to_spec,
    segment_to_proto,
)
from services.common.deadlines import checked, ensure_active
from services.preprocess.stream_session import StreamSession
from shared.audio.decode import AudioLimits
from shared.audio.pipeline import PrepareOptions, prepare
from shared.audio.vad import SileroVad, VadConfig
from shared.errors import InvalidInput
from shared.settings import Settings

_NORMALIZATION = {
    preprocess_pb2.NORMALIZATION_UNSPECIFIED: "none",
    preprocess_pb2.NORMALIZATION_NONE: "none",
    preprocess_pb2.NORMALIZATION_PEAK: "peak",
    preprocess_pb2.NORMALIZATION_LOUDNESS: "loudness",
}


def vad_config(options: preprocess_pb2.PrepareOptions) -> VadConfig:
    """VadConfig from the request; zero fields keep the library defaults."""
    given = options.vad
    overrides = {
        "threshold": given.threshold,
        "min_speech_ms": given.min_speech_ms,
        "max_speech_ms": given.max_speech_ms,
        "min_silence_ms": given.min_silence_ms,
        "pad_ms": given.pad_ms,
        "sample_rate": options.target_rate_hz,
    }
    try:
        return VadConfig(**{k: v for k, v in overrides.items() if v})
    except ValueError as exc:
        raise InvalidInput(f"invalid VAD options: {exc}") from exc


def prepare_options(options: preprocess_pb2.PrepareOptions, settings: Settings) -> PrepareOptions:
    normalize = _NORMALIZATION.get(options.normalization)
    if normalize is None:
        raise InvalidInput(f"unknown normalization value {options.normalization}")
    vad = vad_config(options)
    return PrepareOptions(
        keep_channels=not options.mix_down,
        normalize=normalize,
        vad=vad,
        target_rate=vad.sample_rate,
        return_audio=options.return_audio,
        roles=tuple(options.channel_roles) or settings.channel_roles,
    )


class PreprocessServicer(preprocess_pb2_grpc.PreprocessServicer):
    """Owns one loaded silero-vad (stateless between calls, so shared by all RPC threads)."""

    def __init__(self, settings: Settings, vad: SileroVad | None = None) -> None:
        self.settings = settings
        self.limits = AudioLimits.from_settings(settings)
        self.vad = vad if vad is not None else SileroVad()

    def Prepare(
        self, request: preprocess_pb2.PrepareRequest, context: grpc.ServicerContext
    ) -> preprocess_pb2.PrepareResponse:
        ensure_active(context)
        data, raw = audio_payload_to_source(request.audio)
        options = prepare_options(request.options, self.settings)
        prepared = prepare(data, options, vad=self.vad, limits=self.limits, raw=raw)
        # prepare() has no cancellation hook: an expired request is dropped here, before the reply is built
        ensure_active(context)
        response = preprocess_pb2.PrepareResponse(
            request_id=request.request_id,
            segments=[segment_to_proto(s) for s in prepared.segments],
            source_rate_hz=prepared.source_rate,
            source_channels=prepared.source_channels,
            duration_s=prepared.duration_s,
            sample_rate_hz=options.target_rate,
            roles=list(prepared.roles),
        )
        if options.return_audio:
            response.audio.CopyFrom(ndarray_to_tensor(prepared.audio.samples))
        return response

    def StreamPrepare(
        self, request_iterator: Iterable[preprocess_pb2.StreamPrepareRequest], context: grpc.ServicerContext
    ) -> Iterator[preprocess_pb2.StreamPrepareResponse]:
        requests = checked(request_iterator, context, what="audio stream")
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "config":
            raise InvalidInput("the first StreamPrepare message must carry `config` (PCM format and options)")
        config = first.config
        options = config.options
        session = StreamSession(
            pcm_format_to_spec(config.format),
            vad_config(options),
            self.vad,
            limits=self.limits,
            mix_down=options.mix_down,
            roles=tuple(options.channel_roles) or self.settings.channel_roles,
        )
        for message in requests:
            if message.WhichOneof("kind") != "chunk":
                raise InvalidInput("StreamPrepare accepts `config` only once, as the first message")
            for segment in session.push(message.chunk):
                yield preprocess_pb2.StreamPrepareResponse(
                    segment=segment_to_proto(segment), received_ms=session.received_ms
                )
        for segment in session.flush():
            yield preprocess_pb2.StreamPrepareResponse(segment=segment_to_proto(segment), received_ms=session.received_ms)
        yield preprocess_pb2.StreamPrepareResponse(
            summary=preprocess_pb2.StreamPrepareSummary(
                duration_s=session.duration_s, segment_count=session.segment_count, roles=list(session.roles)
            ),
            received_ms=session.received_ms,
        )
