"""ser.v1.Emotion over the model manager and the batchers: request parsing and response building only."""
from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime

import grpc
import numpy as np
from ser.v1 import common_pb2, emotion_pb2, emotion_pb2_grpc

from services.common.clips import error_detail
from services.common.deadlines import RequestExpired, checked, ensure_active, remaining_s
from services.inference.batcher import BatchStats, Retired
from services.inference.config import InferenceConfig
from services.inference.inputs import Item, SpeakerContext, featurise, group_stats, prepare_items
from services.inference.loaded_model import LoadedModel
from services.inference.metrics import InferenceMetrics
from services.inference.model_manager import ModelManager
from shared.analytics.timeline import valence_arousal_of
from shared.audio.decode import AudioLimits
from shared.errors import ConfigMismatch, InvalidInput, NotFound, PayloadTooLarge, SerError
from shared.registry import ModelCard, ModelRegistry
from shared.settings import Settings
from shared.speaker.encoder import Ge2eEncoder, SpeakerEncoder

MAX_ITEMS = 1024
# Precomputed inputs (SER_PIPELINE=services) a PredictGrouped stream may carry, per byte of SER_MAX_AUDIO_MB:
# the log-mel windows of a call are about 3x its audio; they are held until the stream ends.
PRECOMPUTED_PER_AUDIO_BYTE = 3
CHUNK_ITEMS = 64  # items featurised and submitted together inside one call
RETIRED_RETRIES = 3
INPUT_KINDS = {"image": emotion_pb2.INPUT_KIND_IMAGE, "logmel": emotion_pb2.INPUT_KIND_LOG_MEL,
               "waveform": emotion_pb2.INPUT_KIND_WAVEFORM}
Answer = tuple[emotion_pb2.PredictResponse, SerError | None]
STATES = {"ready": emotion_pb2.MODEL_STATE_READY, "loading": emotion_pb2.MODEL_STATE_LOADING,
          "failed": emotion_pb2.MODEL_STATE_FAILED, "registered": emotion_pb2.MODEL_STATE_REGISTERED}


def posteriors(labels: Sequence[str], probs: np.ndarray, uncertain_below: float = 0.0) -> common_pb2.EmotionPosteriors:
    """``uncertain``: the top probability is below the card's ``serving.uncertain_below`` (0: never)."""
    top = int(np.argmax(probs))
    valence, arousal = valence_arousal_of(labels, probs.tolist())
    return common_pb2.EmotionPosteriors(labels=list(labels), probs=[float(p) for p in probs], top_label=labels[top],
                                        top_prob=float(probs[top]), valence=valence, arousal=arousal,
                                        uncertain=bool(float(probs[top]) < uncertain_below))


def request_seconds(request: emotion_pb2.PredictRequest) -> float:
    """Audio length a request carries, from its raw PCM layout (encoded audio counts its bytes at 16 kHz s16)."""
    audio = request.audio
    if request.WhichOneof("input") != "audio":
        return 0.0
    if audio.WhichOneof("source") == "raw":
        f = audio.raw.format
        width = f.sample_width_bytes or {1: 1, 6: 1, 7: 1, 3: 3, 4: 4, 5: 4}.get(f.encoding, 2)
        return len(audio.raw.data) / max(1, width * max(1, f.channels) * max(1, f.sample_rate_hz))
    return len(audio.encoded.data) / (2 * 16000)


def _unix_ms(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return 0


class EmotionServicer(emotion_pb2_grpc.EmotionServicer):
    """Owns the model manager, the metrics and (lazily) one speaker encoder for speaker-aware models."""

    def __init__(self, settings: Settings, config: InferenceConfig, device: str, *,
                 registry: ModelRegistry | None = None, metrics: InferenceMetrics | None = None,
                 encoder: SpeakerEncoder | None = None,
                 on_ready: Callable[[str, bool], None] | None = None) -> None:
        self.settings = settings
        self.config = config
        self.device = device
        self.limits = AudioLimits.from_settings(settings)
        self.metrics = metrics or InferenceMetrics()
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self._on_ready = on_ready or (lambda name, ready: None)
        self.manager = ModelManager(registry or ModelRegistry(settings.artifacts_dir / "registry"), config, device,
                                    observe=self._observe_batch, on_change=self._on_change)

    # ------------------------------------------------------------------ lifecycle
    def on_ready(self, hook: Callable[[str, bool], None]) -> None:
        """``hook(model name, ready)`` runs whenever a version of that model is loaded or retired."""
        self._on_ready = hook

    def start(self) -> None:
        if self.config.preload:
            self.manager.preload()
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()

    def _observe_batch(self, labels: tuple[str, str, str], stats: BatchStats) -> None:
        self.metrics.batch_size.labels(*labels).observe(stats.size)
        self.metrics.batch_windows.labels(*labels).observe(stats.windows)
        self.metrics.compute.labels(*labels).observe(stats.compute_s)
        for q in stats.queue_s:
            self.metrics.queue.labels(*labels).observe(q)

    def _on_change(self, model: LoadedModel, ready: bool) -> None:
        self.metrics.ready.labels(*model.metric_labels()).set(1 if ready else 0)
        if not ready:
            self.metrics.reloads.inc()
        self._on_ready(model.name, any(k[0] == model.name for k in self.manager.loaded()))

    def encoder(self) -> SpeakerEncoder:
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = Ge2eEncoder(device=self.device)
            return self._encoder

    # ------------------------------------------------------------------ prediction
    def _predict(self, requests: Sequence[emotion_pb2.PredictRequest], default: common_pb2.ModelRef,
                 context: grpc.ServicerContext, speakers: SpeakerContext, method: str
                 ) -> list[Answer]:
        """Answers in request order; item problems become ``error``s, queue overload and deadlines raise."""
        responses: list[Answer | None] = [None] * len(requests)
        by_ref: dict[tuple[str, str], list[int]] = {}
        for index, request in enumerate(requests):
            ref = request.model if request.model.name else default
            by_ref.setdefault((ref.name, ref.version), []).append(index)
        resolve_errors: list[SerError] = []
        for (name, version), indexes in by_ref.items():
            try:
                done = self._predict_one_model(name, version, [requests[i] for i in indexes], context, speakers, method)
            except NotFound as exc:
                resolve_errors.append(exc)
                done = [(emotion_pb2.PredictResponse(request_id=requests[i].request_id,
                                                     error=error_detail(exc, "model")), exc) for i in indexes]
            for i, response in zip(indexes, done, strict=True):
                responses[i] = response
        if resolve_errors and len(resolve_errors) == len(by_ref):
            raise resolve_errors[0]
        return [r for r in responses if r is not None]

    def _predict_one_model(self, name: str, version: str, requests: Sequence[emotion_pb2.PredictRequest],
                           context: grpc.ServicerContext, speakers: SpeakerContext, method: str
                           ) -> list[Answer]:
        for _ in range(RETIRED_RETRIES):
            model = self.manager.get(name, version)
            items, stats = prepare_items(requests, model, speakers, limits=self.limits, encoder=self.encoder,
                                          chunk=CHUNK_ITEMS)
            try:
                self._run_chunks(model, items, stats, context)
            except Retired:
                continue  # swapped out between resolution and submission: resolve again
            return self._respond(model, items, method)
        raise RequestExpired(grpc.StatusCode.UNAVAILABLE, f"model {name}:{version or 'default'} kept being replaced")

    def _run_chunks(self, model: LoadedModel, items: Sequence[Item], stats: dict, context: grpc.ServicerContext) -> None:
        """Featurise and predict a call chunk by chunk: memory stays bounded by one chunk of inputs in
        flight plus the next being featurised, whatever the number of items."""
        pending: tuple[list[Item], Future] | None = None
        for start in range(0, len(items), CHUNK_ITEMS):
            chunk = list(items[start : start + CHUNK_ITEMS])
            featurise(chunk, model, stats, self.limits)
            ok = [i for i in chunk if i.ok]
            if ok:
                ensure_active(context)
                x = np.concatenate([i.x for i in ok])
                speaker = None if ok[0].speaker is None else np.concatenate(
                    [np.repeat(i.speaker[None], len(i.x), axis=0) for i in ok])
                bovw = None if ok[0].bovw is None else np.concatenate([i.bovw for i in ok])
                try:
                    future = model.batcher.submit(x, speaker, bovw)
                finally:
                    self.metrics.queue_depth.labels(*model.metric_labels()).set(model.batcher.depth)
                if pending is not None:
                    self._collect(model, *pending, context)
                pending = (ok, future)
        if pending is not None:
            self._collect(model, *pending, context)

    @staticmethod
    def _collect(model: LoadedModel, items: list[Item], future: Future, context: grpc.ServicerContext) -> None:
        try:
            result = future.result(timeout=remaining_s(context))
        except FutureTimeout:
            raise RequestExpired(grpc.StatusCode.DEADLINE_EXCEEDED,
                                 f"deadline exceeded waiting for {model.name}:{model.version}") from None
        row = 0
        for item in items:
            n = len(item.x)
            item.probs, item.result = result.probs[row : row + n].mean(axis=0), result
            item.x = item.clip = item.bovw = None  # done: keep only the answer
            row += n

    def _respond(self, model: LoadedModel, items: Sequence[Item], method: str) -> list[Answer]:
        out = []
        ref = common_pb2.ModelRef(name=model.name, version=model.version)
        for item in items:
            response = emotion_pb2.PredictResponse(request_id=item.request.request_id, model=ref)
            if item.ok and item.probs is not None:
                response.posteriors.CopyFrom(posteriors(model.labels, item.probs, model.card.uncertain_below))
                response.queue_ms = 1000.0 * item.result.queue_s
                response.compute_ms = 1000.0 * item.result.compute_s
                response.batch_size = item.result.batch_size
                error = None
            else:
                error = item.error or InvalidInput("no input")
                response.error.CopyFrom(error_detail(error, "input"))
            self.metrics.requests.labels(*model.metric_labels(), method, error.code if error else "ok").inc()
            out.append((response, error))
        return out

    def _timed(self, method: str, run: Callable[[], list[Answer]]) -> list[Answer]:
        started = time.perf_counter()
        answers = run()
        elapsed = time.perf_counter() - started
        for response, _ in answers:
            if response.model.name:
                self.metrics.latency.labels(response.model.name, response.model.version, self.device,
                                            method).observe(elapsed)
        return answers

    def Predict(self, request: emotion_pb2.PredictRequest, context: grpc.ServicerContext) -> emotion_pb2.PredictResponse:
        [(response, error)] = self._timed("Predict", lambda: self._predict([request], request.model, context,
                                                                           SpeakerContext(), "Predict"))
        if error is not None:
            raise error
        return response

    def PredictBatch(self, request: emotion_pb2.PredictBatchRequest, context: grpc.ServicerContext
                     ) -> emotion_pb2.PredictBatchResponse:
        if len(request.items) > MAX_ITEMS:
            raise InvalidInput(f"{len(request.items)} items; at most {MAX_ITEMS} per PredictBatch")
        answers = self._timed("PredictBatch", lambda: self._predict(list(request.items), request.model, context,
                                                                    SpeakerContext(), "PredictBatch"))
        return emotion_pb2.PredictBatchResponse(items=[response for response, _ in answers])

    def StreamPredict(self, request_iterator: Iterable[emotion_pb2.PredictRequest], context: grpc.ServicerContext
                      ) -> Iterator[emotion_pb2.PredictResponse]:
        speakers = SpeakerContext(stream=True)
        for request in checked(request_iterator, context, what="prediction stream"):
            try:
                [(response, _)] = self._timed("StreamPredict", functools.partial(
                    self._predict, [request], request.model, context, speakers, "StreamPredict"))
            except SerError as exc:  # one bad request does not end the stream
                response = emotion_pb2.PredictResponse(request_id=request.request_id, error=error_detail(exc))
            yield response

    def PredictGrouped(self, request_iterator: Iterable[emotion_pb2.PredictRequest], context: grpc.ServicerContext
                       ) -> Iterator[emotion_pb2.PredictResponse]:
        answers = self._timed("PredictGrouped", lambda: self._predict_grouped(request_iterator, context))
        mismatch = next((e for _, e in answers if isinstance(e, ConfigMismatch)), None)
        if mismatch is not None:  # inputs made for another config: no part of this call is answered
            raise mismatch
        for response, _ in answers:
            yield response

    def _predict_grouped(self, request_iterator: Iterable[emotion_pb2.PredictRequest],
                         context: grpc.ServicerContext) -> list[Answer]:
        """One call's segments, for one model version (resolved at the first request and pinned).

        Each chunk of requests is checked, decoded and measured (functionals, embeddings: the slow part)
        as soon as it has arrived, so the call's feature extraction overlaps the caller's VAD and cutting
        instead of waiting for the half-close, and an utterance model keeps only each segment's
        functionals, not its audio. Group statistics need every segment, so normalisation and the forward
        passes run after the half-close."""
        model: LoadedModel | None = None
        items: list[Item] = []
        pending: list[emotion_pb2.PredictRequest] = []
        seconds, precomputed = 0.0, 0
        precomputed_limit = PRECOMPUTED_PER_AUDIO_BYTE * self.limits.max_bytes

        def prepare() -> None:
            part, _ = prepare_items(pending, model, SpeakerContext(), limits=self.limits, encoder=self.encoder,
                                    chunk=CHUNK_ITEMS, keep_audio=not items)
            if items:  # longer than one chunk: decode again in featurise() rather than hold it all
                for item in items:
                    item.clip = None
            if model.input_config.kind == "functionals":
                for item in part:  # the functionals are all that is needed from here on
                    item.request.ClearField("audio")
            items.extend(part)
            pending.clear()

        for request in checked(request_iterator, context, what="grouped prediction stream"):
            seconds += request_seconds(request)
            if seconds > self.limits.max_seconds:
                raise InvalidInput(f"PredictGrouped carries more than SER_MAX_AUDIO_SECONDS="
                                   f"{self.limits.max_seconds:.0f} s of audio")
            precomputed += request.raw_inputs.ByteSize() + request.features.ByteSize()
            if precomputed > precomputed_limit:
                raise PayloadTooLarge(f"PredictGrouped carries more than {precomputed_limit} bytes of precomputed "
                                      f"inputs ({PRECOMPUTED_PER_AUDIO_BYTE} x SER_MAX_AUDIO_MB)")
            if model is None:
                model = self.manager.get(request.model.name, request.model.version)
            elif request.model.name and (request.model.name, request.model.version or model.version) != (
                    model.name, model.version):
                if pending:
                    prepare()  # answers keep request order
                items.append(Item(request, error=InvalidInput(
                    f"a PredictGrouped stream is for one model ({model.name}:{model.version}); this request names "
                    f"{request.model.name}:{request.model.version or 'default'}")))
                continue
            pending.append(request)
            if len(pending) == CHUNK_ITEMS:
                prepare()
        if model is None:
            return []
        if pending:
            prepare()
        stats = group_stats(items, model, SpeakerContext())
        for _ in range(RETIRED_RETRIES):
            try:
                self._run_chunks(model, items, stats, context)
                return self._respond(model, items, "PredictGrouped")
            except Retired:  # unloaded meanwhile: the same version again; its inputs stay valid
                model = self.manager.get(model.name, model.version)
        raise RequestExpired(grpc.StatusCode.UNAVAILABLE, f"model {model.name}:{model.version} kept being replaced")

    # ------------------------------------------------------------------ models
    def _info(self, name: str, version: str, card: ModelCard | None = None) -> emotion_pb2.ModelInfo:
        manager = self.manager
        loaded = manager.loaded().get((name, version))
        if card is None:
            card = loaded.card if loaded is not None else manager.registry.card(name, version)
        state, error = manager.state((name, version))
        info = emotion_pb2.ModelInfo(
            ref=common_pb2.ModelRef(name=name, version=version),
            aliases=manager.view.aliases_of(name, version),
            architecture=card.architecture, labels=list(card.labels), label_mapping=card.label_map,
            feature_config=common_pb2.FeatureConfigRef(hash=card.feature_config_hash,
                                                       json=_canonical_json(card.feature_config)),
            input_kind=INPUT_KINDS.get(card.input_kind, emotion_pb2.INPUT_KIND_UNSPECIFIED),
            speaker_aware=card.uses_speaker, needs_bovw=card.uses_bovw, state=STATES[state],
            card_json=card.to_json(), created_unix_ms=_unix_ms(card.created_at),
            uncertain_below=card.uncertain_below,
        )
        if loaded is not None:
            info.input_shape.extend(loaded.input_shape)
            info.device = loaded.device
            info.speaker_dim = loaded.speaker_dim
        if "bovw_vocabulary" in card.side_artifacts:
            info.vocabulary.CopyFrom(common_pb2.ModelRef(name=f"{name}/{card.side_artifacts['bovw_vocabulary'].path}",
                                                         version=version))
        if error:
            info.error.CopyFrom(common_pb2.ErrorDetail(code="model_load_failed", message=error))
        return info

    def GetModel(self, request: emotion_pb2.GetModelRequest, context: grpc.ServicerContext) -> emotion_pb2.ModelInfo:
        name, version = self.manager.resolve(request.model.name, request.model.version)
        return self._info(name, version)

    def ListModels(self, request: emotion_pb2.ListModelsRequest, context: grpc.ServicerContext
                   ) -> emotion_pb2.ListModelsResponse:
        view = self.manager.view
        if request.name and request.name not in view.versions:
            raise NotFound(f"no model named {request.name!r}; models: {sorted(view.versions)}")
        out = []
        for name in sorted(view.versions):
            if request.name and name != request.name:
                continue
            versions = view.versions[name]
            shown = versions if request.all_versions else [
                v for v in versions if v == versions[-1] or v in view.aliases[name].values()]
            out += [self._info(name, v) for v in shown]
        return emotion_pb2.ListModelsResponse(models=out)


def _canonical_json(config: dict) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))
