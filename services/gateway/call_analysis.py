"""ser.v1.CallAnalysis: preprocess (segments per channel) -> inference (batched per call) -> shared.analytics.

The gateway holds no model and computes no features. Each segment goes to the inference service as
16 kHz float32 PCM (AnalyzeCall) or source-rate PCM (AnalyzeStream) with ``speaker_group`` = its
channel, so the inference service builds the model inputs with the model's own front end and, for
speaker-aware models, the channel's speaker embedding from all of its speech so far (and, with
``speaker_normalize``, standardises features per channel). AnalyzeCall sends one PredictBatch per
call (split only past 1024 segments or half the message limit); AnalyzeStream keeps one
StreamPredict open per call so the speaker context carries over from segment to segment.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

import grpc
import numpy as np
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, emotion_pb2, preprocess_pb2

from services.common.convert import pcm_format_to_spec, source_to_audio_payload, tensor_to_ndarray
from services.common.deadlines import checked, ensure_active
from services.gateway.convert import call_to_proto, entry_to_proto
from services.gateway.downstream import Downstream, downstream_timeout
from services.gateway.stream_audio import StreamAudio
from shared.analytics.call import AnalyticsOptions, summarize
from shared.analytics.timeline import ClassifiedSegment, TimelineEntry, classify
from shared.analytics.turning_points import TurnRule
from shared.audio.decode import RawPcmSpec
from shared.errors import InvalidInput
from shared.settings import Settings

log = logging.getLogger("ser.gateway")
RATE = 16000
MAX_ITEMS = 1024
DEFAULT_MIN_SILENCE_MS = 2000


def analytics_options(options: analysis_pb2.AnalyzeOptions) -> AnalyticsOptions:
    return AnalyticsOptions(turn_rule=TurnRule(negative_labels=tuple(options.negative_labels)),
                            watch_participant=options.watch_participant,
                            min_silence_ms=options.min_silence_ms or DEFAULT_MIN_SILENCE_MS)


def prepare_options(options: analysis_pb2.AnalyzeOptions, *, return_audio: bool) -> preprocess_pb2.PrepareOptions:
    return preprocess_pb2.PrepareOptions(mix_down=options.mix_down, vad=options.vad, target_rate_hz=RATE,
                                         return_audio=return_audio, channel_roles=list(options.channel_roles))


def participant_of(segment: common_pb2.Segment) -> str:
    return segment.speaker or f"channel{segment.channel}"


def predict_request(samples: np.ndarray, rate: int, segment: common_pb2.Segment,
                    options: analysis_pb2.AnalyzeOptions) -> emotion_pb2.PredictRequest:
    payload = source_to_audio_payload(np.ascontiguousarray(samples, dtype=np.float32).tobytes(),
                                      RawPcmSpec(sample_rate=rate, channels=1, encoding="pcm_f32le"))
    return emotion_pb2.PredictRequest(
        model=options.model, audio=payload, speaker_group=f"channel{segment.channel}",
        speaker_normalize=options.speaker_normalize,
        request_id=f"{segment.channel}:{segment.start_ms}-{segment.end_ms}",
    )


def classified(segment: common_pb2.Segment, response: emotion_pb2.PredictResponse) -> ClassifiedSegment:
    p = response.posteriors
    return ClassifiedSegment(segment.channel, participant_of(segment), segment.start_ms, segment.end_ms,
                             tuple(p.labels), tuple(p.probs))


def batches(requests: Sequence[emotion_pb2.PredictRequest], max_bytes: int) -> Iterator[list[emotion_pb2.PredictRequest]]:
    """Consecutive runs of requests under the item and message-size limits."""
    batch: list[emotion_pb2.PredictRequest] = []
    size = 0
    for request in requests:
        n = request.ByteSize()
        if batch and (len(batch) >= MAX_ITEMS or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(request)
        size += n
    if batch:
        yield batch


class CallAnalysisServicer(analysis_pb2_grpc.CallAnalysisServicer):
    def __init__(self, settings: Settings, downstream: Downstream) -> None:
        self.settings = settings
        self.downstream = downstream

    def _model(self, options: analysis_pb2.AnalyzeOptions, context: grpc.ServicerContext) -> emotion_pb2.ModelInfo:
        """Resolve the model first: an unknown model fails fast, before any audio work."""
        return self.downstream.inference.GetModel(emotion_pb2.GetModelRequest(model=options.model),
                                                  timeout=downstream_timeout(context, 30.0))

    def _participants(self, roles: Sequence[str]) -> list[tuple[str, int]]:
        return [(role or f"channel{ch}", ch) for ch, role in enumerate(roles)]

    # ------------------------------------------------------------------ whole calls
    def AnalyzeCall(self, request: analysis_pb2.AnalyzeCallRequest, context: grpc.ServicerContext
                    ) -> analysis_pb2.AnalyzeCallResponse:
        started = time.perf_counter()
        options = request.options
        analytics = analytics_options(options)
        model = self._model(options, context)
        prepared = self.downstream.preprocess.Prepare(
            preprocess_pb2.PrepareRequest(audio=request.audio, options=prepare_options(options, return_audio=True),
                                          request_id=request.call_id),
            timeout=downstream_timeout(context))
        ensure_active(context)
        audio = tensor_to_ndarray(prepared.audio)
        rate = prepared.sample_rate_hz or RATE
        segments = list(prepared.segments)
        requests = [predict_request(audio[s.channel, s.start_ms * rate // 1000 : s.end_ms * rate // 1000], rate, s,
                                    options) for s in segments]
        for r in requests:
            r.model.CopyFrom(model.ref)  # one resolved version for the whole call, even if promoted meanwhile
        answers: list[emotion_pb2.PredictResponse] = []
        for batch in batches(requests, self.settings.max_message_bytes // 2):
            reply = self.downstream.inference.PredictBatch(emotion_pb2.PredictBatchRequest(model=model.ref, items=batch),
                                                           timeout=downstream_timeout(context))
            answers += reply.items
        done = []
        for segment, answer in zip(segments, answers, strict=True):
            if answer.HasField("error"):
                log.warning("segment %s skipped: %s", answer.request_id, answer.error.message)
                continue
            done.append(classify(classified(segment, answer)))
        summary = summarize(done, model.labels, round(1000 * prepared.duration_s), self._participants(prepared.roles),
                            analytics)
        response = analysis_pb2.AnalyzeCallResponse(
            call_id=request.call_id, duration_s=prepared.duration_s, source_rate_hz=prepared.source_rate_hz,
            source_channels=prepared.source_channels, model=model.ref, feature_config=model.feature_config)
        call_to_proto(summary, response)
        response.processing_s = time.perf_counter() - started
        return response

    # ------------------------------------------------------------------ streams
    def AnalyzeStream(self, request_iterator: Iterable[analysis_pb2.AnalyzeStreamRequest],
                      context: grpc.ServicerContext) -> Iterator[analysis_pb2.AnalyzeStreamResponse]:
        started = time.perf_counter()
        requests = checked(request_iterator, context, what="audio stream")
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "config":
            raise InvalidInput("the first AnalyzeStream message must carry `config` (PCM format and options)")
        config = first.config
        options = config.options
        spec = pcm_format_to_spec(config.format)
        model = self._model(options, context)
        audio = StreamAudio(spec, max_bytes=self.settings.max_audio_bytes, mix_down=options.mix_down)
        chunks: queue.Queue[bytes | None] = queue.Queue()
        pump_error: list[BaseException] = []

        def pump() -> None:
            """Client chunks -> our audio buffer and the preprocess stream, on their own thread."""
            try:
                for message in requests:
                    if message.WhichOneof("kind") != "chunk":
                        raise InvalidInput("AnalyzeStream accepts `config` only once, as the first message")
                    audio.add(message.chunk)
                    chunks.put(message.chunk)
            except BaseException as exc:  # noqa: BLE001 - reported by the main loop
                pump_error.append(exc)
            finally:
                chunks.put(None)

        def prepare_requests() -> Iterator[preprocess_pb2.StreamPrepareRequest]:
            yield preprocess_pb2.StreamPrepareRequest(config=preprocess_pb2.StreamPrepareConfig(
                format=config.format, options=prepare_options(options, return_audio=False), request_id=config.call_id))
            for chunk in iter(chunks.get, None):
                yield preprocess_pb2.StreamPrepareRequest(chunk=chunk)

        predictions: queue.Queue[emotion_pb2.PredictRequest | None] = queue.Queue()
        threading.Thread(target=pump, name="analyze-stream-pump", daemon=True).start()
        timeout = downstream_timeout(context)
        segments = self.downstream.preprocess.StreamPrepare(prepare_requests(), timeout=timeout)
        answers = self.downstream.inference.StreamPredict(iter(predictions.get, None), timeout=timeout)
        entries: list[TimelineEntry] = []
        duration_s = 0.0
        roles: list[str] = []
        try:
            for message in segments:
                if message.WhichOneof("kind") == "summary":
                    duration_s, roles = message.summary.duration_s, list(message.summary.roles)
                    continue
                segment = message.segment
                closed_at = audio.arrival_of(message.received_ms)
                request = predict_request(audio.cut(segment.channel, segment.start_ms, segment.end_ms),
                                          spec.sample_rate, segment, options)
                request.model.CopyFrom(model.ref)
                predictions.put(request)
                answer = next(answers)
                if answer.HasField("error"):
                    log.warning("segment %s skipped: %s", answer.request_id, answer.error.message)
                    continue
                entry = classify(classified(segment, answer), index=len(entries))
                entries.append(entry)
                yield analysis_pb2.AnalyzeStreamResponse(entry=entry_to_proto(entry), received_ms=message.received_ms,
                                                         latency_ms=1000.0 * (time.perf_counter() - closed_at))
        finally:
            predictions.put(None)
            answers.cancel()
        if pump_error:
            raise pump_error[0]
        summary = summarize(entries, model.labels, round(1000 * duration_s), self._participants(roles),
                            analytics_options(options))
        result = analysis_pb2.AnalyzeCallResponse(
            call_id=config.call_id, duration_s=duration_s, source_rate_hz=spec.sample_rate,
            source_channels=spec.channels, model=model.ref, feature_config=model.feature_config)
        call_to_proto(summary, result)
        result.processing_s = time.perf_counter() - started
        yield analysis_pb2.AnalyzeStreamResponse(result=result, received_ms=audio.received_ms)
