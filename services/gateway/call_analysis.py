"""ser.v1.CallAnalysis: preprocess (segments per channel) -> inference (per call) -> shared.analytics.

The gateway holds no model and computes no features. Whole calls (AnalyzeCall inline, AnalyzeUpload
in chunks) are spooled to disk and decoded block by block (``services.gateway.call_audio``), so a
call of any length up to SER_MAX_AUDIO_SECONDS / SER_MAX_AUDIO_MB costs bounded memory and no
message carries a whole decoded call: the source-rate PCM blocks stream to preprocess StreamPrepare
for the VAD segments, then each segment, read back from the spool, streams into one inference
PredictGrouped. AnalyzeStream (live) keeps one StreamPrepare and one StreamPredict open per call.
With SER_PIPELINE=inprocess every segment goes as source-rate float32 PCM, so the inference service builds
the inputs with the model's own front end; with SER_PIPELINE=services the features and speaker services
compute them (``services.gateway.service_inputs``: per call for AnalyzeCall and AnalyzeUpload, per segment
as it closes for AnalyzeStream). Each segment's ``speaker_group`` is its channel and participant (a mono
call is diarized into participants by ``services.gateway.mono_call``). Either way inference normalises per
group exactly when the model card says so (AnalyzeOptions.speaker_normalize is ignored), and the model
version resolved at the start is pinned for the whole call. A segment stream that fails UNAVAILABLE (a
replica died) is replayed whole from the spool, since nothing of it has been answered yet.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import grpc
import numpy as np
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, emotion_pb2, preprocess_pb2

from services.common.convert import audio_payload_to_source, pcm_format_to_spec, spec_to_pcm_format
from services.common.deadlines import RequestExpired, checked, ensure_active
from services.gateway import mono_call
from services.gateway.call_audio import CallDecoder, CallSpool, PcmFile, interleaved
from services.gateway.convert import call_to_proto, entry_to_proto, segment_audio, segment_request
from services.gateway.downstream import DEFAULT_TIMEOUT_S, Downstream, downstream_timeout
from services.gateway.service_inputs import ServiceInputs, spool_cut
from services.gateway.stream_audio import StreamAudio
from services.gateway.streams import drain, drained, guarded
from shared.analytics.call import AnalyticsOptions, summarize
from shared.analytics.timeline import ClassifiedSegment, TimelineEntry, classify
from shared.analytics.turning_points import TurnRule
from shared.audio.decode import AudioLimits, RawPcmSpec
from shared.errors import InvalidInput
from shared.settings import Settings

log = logging.getLogger("ser.gateway")
RATE = 16000
DEFAULT_MIN_SILENCE_MS = 2000
MAX_CHUNK_BYTES = 4 << 20
STREAM_ATTEMPTS = 3  # a call's segment stream, replayed on UNAVAILABLE
STREAM_BACKOFF_S = 0.2


def analytics_options(options: analysis_pb2.AnalyzeOptions) -> AnalyticsOptions:
    return AnalyticsOptions(turn_rule=TurnRule(negative_labels=tuple(options.negative_labels)),
                            watch_participant=options.watch_participant,
                            min_silence_ms=options.min_silence_ms or DEFAULT_MIN_SILENCE_MS)


def prepare_options(options: analysis_pb2.AnalyzeOptions) -> preprocess_pb2.PrepareOptions:
    return preprocess_pb2.PrepareOptions(mix_down=options.mix_down, vad=options.vad, target_rate_hz=RATE,
                                         channel_roles=list(options.channel_roles))


def participant_of(segment: common_pb2.Segment) -> str:
    return segment.speaker or f"channel{segment.channel}"


def predict_request(samples: np.ndarray, rate: int, segment: common_pb2.Segment,
                    model: common_pb2.ModelRef) -> emotion_pb2.PredictRequest:
    """One segment as source-rate float32 PCM (SER_PIPELINE=inprocess: inference computes its inputs)."""
    request = segment_request(segment, model)
    request.audio.CopyFrom(segment_audio(samples, rate))
    return request


def classified(segment: common_pb2.Segment, response: emotion_pb2.PredictResponse) -> ClassifiedSegment:
    p = response.posteriors
    return ClassifiedSegment(segment.channel, participant_of(segment), segment.start_ms, segment.end_ms,
                             tuple(p.labels), tuple(p.probs), uncertain=p.uncertain)


def timeline_order(segment: common_pb2.Segment) -> tuple[int, int]:
    """Segments of a call in timeline order: by start, then channel."""
    return segment.start_ms, segment.channel


def call_timeout(context: grpc.ServicerContext, decoder: CallDecoder) -> float:
    """A downstream call's time: the caller's deadline, else at least as long as the call lasts."""
    return downstream_timeout(context, max(DEFAULT_TIMEOUT_S, decoder.header_seconds))


def prepare_stream(decoder: CallDecoder, pcm: PcmFile, options: analysis_pb2.AnalyzeOptions, call_id: str,
                   chunk_bytes: int) -> Iterator[preprocess_pb2.StreamPrepareRequest]:
    """StreamPrepare requests for a spooled call: its PCM block by block, each block also appended to ``pcm``."""
    spec = RawPcmSpec(sample_rate=decoder.sample_rate, channels=decoder.channels, encoding="pcm_f32le")
    yield preprocess_pb2.StreamPrepareRequest(config=preprocess_pb2.StreamPrepareConfig(
        format=spec_to_pcm_format(spec), options=prepare_options(options), request_id=call_id))
    for block in decoder.blocks():
        frames = interleaved(block)
        pcm.append(frames)
        for start in range(0, len(frames), chunk_bytes):
            yield preprocess_pb2.StreamPrepareRequest(chunk=frames[start : start + chunk_bytes])


def predict_stream(segments: Iterable[common_pb2.Segment], pcm: PcmFile, model: common_pb2.ModelRef
                   ) -> Iterator[emotion_pb2.PredictRequest]:
    """PredictGrouped requests, read from the spool one segment at a time as gRPC asks for them."""
    for segment in segments:
        yield predict_request(pcm.cut(segment.channel, segment.start_ms, segment.end_ms), pcm.sample_rate, segment,
                              model)


class CallAnalysisServicer(analysis_pb2_grpc.CallAnalysisServicer):
    def __init__(self, settings: Settings, downstream: Downstream) -> None:
        self.settings = settings
        self.downstream = downstream
        self.limits = AudioLimits.from_settings(settings)
        self.chunk_bytes = max(1, min(MAX_CHUNK_BYTES, settings.max_message_bytes // 2))

    def _model(self, options: analysis_pb2.AnalyzeOptions, context: grpc.ServicerContext) -> emotion_pb2.ModelInfo:
        """Resolve the model first: an unknown model fails fast, before any audio work."""
        return self.downstream.inference.GetModel(emotion_pb2.GetModelRequest(model=options.model),
                                                  timeout=downstream_timeout(context, 30.0))

    def _participants(self, roles: Sequence[str]) -> list[tuple[str, int]]:
        return [(role or f"channel{ch}", ch) for ch, role in enumerate(roles)]

    def _result(self, call_id: str, entries: Sequence[TimelineEntry], duration_s: float, roles: Sequence[str], *,
                rate: int, channels: int, model: emotion_pb2.ModelInfo, options: analysis_pb2.AnalyzeOptions,
                started: float, diarized: bool = False) -> analysis_pb2.AnalyzeCallResponse:
        participants = [(r, 0) for r in roles] if diarized else self._participants(roles)
        summary = summarize(entries, model.labels, round(1000 * duration_s), participants, analytics_options(options))
        result = analysis_pb2.AnalyzeCallResponse(
            call_id=call_id, duration_s=duration_s, source_rate_hz=rate, source_channels=channels, model=model.ref,
            feature_config=model.feature_config)
        call_to_proto(summary, result)
        result.call_mode = analysis_pb2.CALL_MODE_DIARIZE if diarized else analysis_pb2.CALL_MODE_CHANNELS
        result.uncertain_below = model.uncertain_below
        result.processing_s = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------ whole calls
    def AnalyzeCall(self, request: analysis_pb2.AnalyzeCallRequest, context: grpc.ServicerContext
                    ) -> analysis_pb2.AnalyzeCallResponse:
        started = time.perf_counter()
        model = self._model(request.options, context)
        data, raw = audio_payload_to_source(request.audio)
        with CallSpool(self.limits.max_bytes) as spool:
            spool.add(data)
            return self._analyze_spooled(spool, raw, request.options, request.call_id, model, context, started)

    def AnalyzeUpload(self, request_iterator: Iterable[analysis_pb2.AnalyzeUploadRequest],
                      context: grpc.ServicerContext) -> analysis_pb2.AnalyzeCallResponse:
        started = time.perf_counter()
        requests = checked(request_iterator, context, what="upload")
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "config":
            raise InvalidInput("the first AnalyzeUpload message must carry `config` (options, and raw_format for "
                               "raw PCM)")
        config = first.config
        raw = pcm_format_to_spec(config.raw_format) if config.HasField("raw_format") else None
        model = self._model(config.options, context)
        with CallSpool(self.limits.max_bytes) as spool:
            for message in requests:
                if message.WhichOneof("kind") != "chunk":
                    raise InvalidInput("AnalyzeUpload accepts `config` only once, as the first message")
                spool.add(message.chunk)
            return self._analyze_spooled(spool, raw, config.options, config.call_id, model, context, started)

    def _analyze_spooled(self, spool: CallSpool, raw: RawPcmSpec | None, options: analysis_pb2.AnalyzeOptions,
                         call_id: str, model: emotion_pb2.ModelInfo, context: grpc.ServicerContext, started: float
                         ) -> analysis_pb2.AnalyzeCallResponse:
        decoder = CallDecoder(spool.finish_upload(), self.limits, raw=raw,
                              mix_down=mono_call.mixes_down(options, self.settings))
        diarized = mono_call.diarizes(options, self.settings, decoder.channels)
        with PcmFile(spool.pcm_path, decoder.sample_rate, decoder.channels) as pcm:
            if not diarized and self.settings.pipeline == "inprocess":
                segments, answers, summary = self._segments_predicted(decoder, pcm, options, call_id, model, context)
                roles = list(summary.roles)
            else:
                segments, summary = self._segments(decoder, pcm, options, call_id, context)
                segments.sort(key=timeline_order)
                pcm.finish()
                ensure_active(context)
                roles = list(summary.roles)
                if diarized:
                    turns = mono_call.diarize_call(self.downstream.speaker, segments, pcm, options, self.settings,
                                                   call_id, call_timeout(context, decoder), context)
                    segments, roles = turns.segments, turns.roles
                answers = self._predict_replayed(segments, pcm, model, lambda: call_timeout(context, decoder), context)
        entries = []
        for segment, answer in zip(segments, answers, strict=True):
            if answer.HasField("error"):
                log.warning("segment %s skipped: %s", answer.request_id, answer.error.message)
                continue
            entries.append(classify(classified(segment, answer)))
        if diarized:
            entries = mono_call.mark_overlaps(entries, turns.overlaps)
        return self._result(call_id, entries, summary.duration_s, roles, rate=decoder.sample_rate,
                            channels=decoder.source_channels, model=model, options=options, started=started,
                            diarized=diarized)

    def _segments(self, decoder: CallDecoder, pcm: PcmFile, options: analysis_pb2.AnalyzeOptions, call_id: str,
                  context: grpc.ServicerContext, on_segment: Callable[[common_pb2.Segment], bool] = lambda s: True
                  ) -> tuple[list[common_pb2.Segment], preprocess_pb2.StreamPrepareSummary]:
        """VAD segments of the spooled call, in the order preprocess closes them, and its summary.
        ``on_segment`` sees each segment as it closes; False stops the VAD there (its caller has failed)."""
        failed: list[Exception] = []
        replies = self.downstream.preprocess.StreamPrepare(
            guarded(prepare_stream(decoder, pcm, options, call_id, self.chunk_bytes), failed),
            timeout=call_timeout(context, decoder))
        context.add_callback(replies.cancel)
        segments, summary = [], preprocess_pb2.StreamPrepareSummary()
        for reply in drained(replies, failed):
            if reply.WhichOneof("kind") == "summary":
                summary = reply.summary
                continue
            segments.append(reply.segment)
            if not on_segment(reply.segment):
                replies.cancel()
                break
        return segments, summary

    def _segments_predicted(self, decoder: CallDecoder, pcm: PcmFile, options: analysis_pb2.AnalyzeOptions,
                            call_id: str, model: emotion_pb2.ModelInfo, context: grpc.ServicerContext
                            ) -> tuple[list[common_pb2.Segment], list[emotion_pb2.PredictResponse],
                                       preprocess_pb2.StreamPrepareSummary]:
        """The VAD segments and their answers, in timeline order, with each segment sent to inference as
        soon as preprocess closes it: inference featurises the call while the VAD still runs (calls diarized
        or SER_PIPELINE=services go segments first, then ``_predict_replayed``). A PredictGrouped that fails
        UNAVAILABLE is replayed whole by ``_predict_replayed`` once the VAD is done: it answers nothing
        before its requests end, so nothing is answered twice."""
        arrived: queue.Queue[common_pb2.Segment | None] = queue.Queue()
        predict_failed: list[Exception] = []
        predicted = self.downstream.inference.PredictGrouped(
            guarded(predict_stream(iter(arrived.get, None), pcm, model.ref), predict_failed),
            timeout=call_timeout(context, decoder))
        context.add_callback(predicted.cancel)

        def send(segment: common_pb2.Segment) -> bool:
            arrived.put(segment)  # inference refusing the call stops the VAD; its error is raised below
            return not (predicted.done() and predicted.code() != grpc.StatusCode.UNAVAILABLE)

        try:
            segments, summary = self._segments(decoder, pcm, options, call_id, context, on_segment=send)
        except BaseException:
            predicted.cancel()
            raise
        finally:
            arrived.put(None)
        pcm.finish()
        try:
            answers = drain(predicted, predict_failed)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or not context.is_active():
                raise
            log.warning("segment stream failed UNAVAILABLE (%s); replaying it", exc.details())
            answers = self._predict_replayed(segments, pcm, model, lambda: call_timeout(context, decoder), context)
        if len(answers) != len(segments):
            raise RequestExpired(grpc.StatusCode.INTERNAL,
                                 f"inference answered {len(answers)} of the call's {len(segments)} segments")
        order = sorted(range(len(segments)), key=lambda i: timeline_order(segments[i]))
        return [segments[i] for i in order], [answers[i] for i in order], summary

    def _predict_replayed(self, segments: Sequence[common_pb2.Segment], pcm: PcmFile, model: emotion_pb2.ModelInfo,
                          timeout: Callable[[], float], context: grpc.ServicerContext
                          ) -> list[emotion_pb2.PredictResponse]:
        """``_predict_grouped``, replayed whole when it fails UNAVAILABLE (a replica of inference, features or
        speaker died): PredictGrouped answers nothing before its requests end and this call returns nothing
        before every answer is in, so a replay, read again from the spool, repeats no answer and loses none."""
        for attempt in range(1, STREAM_ATTEMPTS + 1):
            try:
                return self._predict_grouped(segments, pcm, model, timeout(), context)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == STREAM_ATTEMPTS or not context.is_active():
                    raise
                log.warning("segment stream failed UNAVAILABLE (%s); replaying it (attempt %d of %d)", exc.details(),
                            attempt + 1, STREAM_ATTEMPTS)
                time.sleep(STREAM_BACKOFF_S * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _predict_grouped(self, segments: Sequence[common_pb2.Segment], pcm: PcmFile, model: emotion_pb2.ModelInfo,
                         timeout: float, context: grpc.ServicerContext) -> list[emotion_pb2.PredictResponse]:
        """One answer per segment, in order, from one PredictGrouped fed lazily: with the segments' audio from
        the spool (SER_PIPELINE=inprocess), or with their inputs from the features and speaker services."""
        if not segments:
            return []
        failed: list[Exception] = []
        if self.settings.pipeline != "services":
            replies = self.downstream.inference.PredictGrouped(
                guarded(predict_stream(segments, pcm, model.ref), failed), timeout=timeout)
            context.add_callback(replies.cancel)
            return drain(replies, failed)
        inputs = ServiceInputs(self.downstream, model, timeout, context)
        cancel: list[Callable[[], object]] = []
        replies = self.downstream.inference.PredictGrouped(
            guarded(inputs.requests(segments, spool_cut(pcm), pcm.sample_rate), failed, cancel), timeout=timeout)
        cancel.append(replies.cancel)
        context.add_callback(replies.cancel)
        return inputs.merge(len(segments), drain(replies, failed))

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
        mono_call.check_stream(options, self.settings)
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
                format=config.format, options=prepare_options(options), request_id=config.call_id))
            for chunk in iter(chunks.get, None):
                yield preprocess_pb2.StreamPrepareRequest(chunk=chunk)

        predictions: queue.Queue[emotion_pb2.PredictRequest | None] = queue.Queue()
        threading.Thread(target=pump, name="analyze-stream-pump", daemon=True).start()
        timeout = downstream_timeout(context)
        segments = self.downstream.preprocess.StreamPrepare(prepare_requests(), timeout=timeout)
        answers = self.downstream.inference.StreamPredict(iter(predictions.get, None), timeout=timeout)
        services = (ServiceInputs(self.downstream, model, timeout, context) if self.settings.pipeline == "services"
                    else None)
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
                samples = audio.cut(segment.channel, segment.start_ms, segment.end_ms)
                if services is None:
                    request: emotion_pb2.PredictRequest | None = predict_request(samples, spec.sample_rate, segment,
                                                                                 model.ref)
                else:
                    request = services.one(segment, samples, spec.sample_rate)
                if request is None:
                    assert services is not None
                    log.warning("segment %s skipped: %s", services.local[0].request_id,
                                services.local[0].error.message)
                    continue
                predictions.put(request)
                answer = next(answers)
                if answer.HasField("error"):
                    log.warning("segment %s skipped: %s", answer.request_id, answer.error.message)
                    continue
                entry = classify(classified(segment, answer), index=len(entries))
                entries.append(entry)
                yield analysis_pb2.AnalyzeStreamResponse(entry=entry_to_proto(entry), received_ms=message.received_ms,
                                                         latency_ms=1000.0 * (time.perf_counter() - closed_at))
        except grpc.RpcError:
            if pump_error:  # the client's stream failed first (idle, malformed): that, not what it caused downstream
                raise pump_error[0] from None
            raise
        finally:
            predictions.put(None)
            answers.cancel()
        if pump_error:
            raise pump_error[0]
        result = self._result(config.call_id, entries, duration_s, roles, rate=spec.sample_rate,
                              channels=spec.channels, model=model, options=options, started=started)
        yield analysis_pb2.AnalyzeStreamResponse(result=result, received_ms=audio.received_ms)
