"""ser.v1.Features over ``shared.features``: request parsing and response building only.

Audio is decoded at the feature config's rate (16 kHz for every preset); each input gives one item
(the whole recording, mixed down) or one item per segment. Every extraction of a request runs as
one batch through the engine. Unknown presets and vocabularies are NOT_FOUND, undecodable audio
INVALID_ARGUMENT, a config that differs from the vocabulary's FAILED_PRECONDITION.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import grpc
import numpy as np
from ser.v1 import common_pb2, features_pb2, features_pb2_grpc

from services.common.clips import Clip, clips_of, decode_request_audio, error_detail
from services.common.convert import ndarray_to_tensor
from services.common.deadlines import checked, ensure_active
from services.features.engine import FeatureEngine
from services.features.model_inputs import answer_chunk, chunks, model_input_config
from services.features.requests import (
    DEFAULT_VOCABULARY,
    KIND_KEYS,
    MAX_BATCH_ITEMS,
    config_ref,
    image_config,
    requested_config,
    smile_ref,
    smile_set,
)
from shared.audio.decode import AudioLimits
from shared.errors import InvalidInput
from shared.features.artifacts import VocabularyArtifact
from shared.features.config import LogMelConfig
from shared.settings import Settings


@dataclass
class InputClips:
    """The clips of one FeatureInput, or the error that made its audio unusable."""

    id: str
    clips: list[Clip]


class FeaturesServicer(features_pb2_grpc.FeaturesServicer):
    """Owns one ``FeatureEngine`` (front ends, vocabularies, openSMILE), shared by all RPC threads."""

    def __init__(self, settings: Settings, engine: FeatureEngine | None = None) -> None:
        self.settings = settings
        self.limits = AudioLimits.from_settings(settings)
        self.engine = engine if engine is not None else FeatureEngine(settings.artifacts_dir)

    # ---- request pieces -------------------------------------------------------------------
    def _clips(self, inp: features_pb2.FeatureInput, rate: int) -> list[Clip]:
        audio = decode_request_audio(inp.audio, self.limits, rate)
        return clips_of(audio, inp.segments, self.settings.min_audio_ms)

    def _config(self, ref: common_pb2.FeatureConfigRef, deltas: bool = False) -> LogMelConfig:
        config = requested_config(ref) or LogMelConfig()
        return config.replace(deltas=2) if deltas and config.deltas == 0 else config

    def _vocabulary(self, ref: common_pb2.ModelRef) -> VocabularyArtifact:
        return self.engine.vocabulary(ref.name or DEFAULT_VOCABULARY, ref.version)

    def _bovw_config(self, ref: common_pb2.FeatureConfigRef, loaded: VocabularyArtifact) -> LogMelConfig:
        config = requested_config(ref) or loaded.logmel or LogMelConfig()
        self.engine.check_vocabulary_config(loaded, config)
        return config

    @staticmethod
    def _items(input_id: str, clips: Sequence[Clip], values: Sequence[np.ndarray],
               keypoints: Sequence[int] | None = None) -> list[features_pb2.FeatureItem]:
        out, good = [], iter(range(len(values)))
        for clip in clips:
            item = features_pb2.FeatureItem(id=input_id)
            if clip.segment is not None:
                item.segment.CopyFrom(clip.segment)
            if clip.error is not None:
                item.error.CopyFrom(error_detail(clip.error, "segments"))
            else:
                i = next(good)
                item.tensor.CopyFrom(ndarray_to_tensor(np.asarray(values[i], dtype=np.float32)))
                if keypoints is not None:
                    item.keypoints = keypoints[i]
            out.append(item)
        return out

    @staticmethod
    def _ok(clips: Sequence[Clip]) -> list[np.ndarray]:
        return [c.samples for c in clips if c.samples is not None]

    @staticmethod
    def _check_size(inputs: Sequence[features_pb2.FeatureInput]) -> None:
        total = sum(max(1, len(i.segments)) for i in inputs)
        if total > MAX_BATCH_ITEMS:
            raise InvalidInput(f"{total} items after expanding segments; at most {MAX_BATCH_ITEMS} per call")

    # ---- RPCs ---------------------------------------------------------------------------------
    def ExtractLogMel(self, request: features_pb2.ExtractLogMelRequest, context: grpc.ServicerContext) -> features_pb2.ExtractResponse:
        self._check_size([request.input])
        config = self._config(request.config, request.deltas)
        clips = self._clips(request.input, config.sample_rate)
        ensure_active(context)
        mels = self.engine.logmels(self._ok(clips), config, int(request.window_frames))
        return features_pb2.ExtractResponse(items=self._items(request.input.id, clips, mels),
                                            config=config_ref(config, request.config.preset))

    def ExtractImage(self, request: features_pb2.ExtractImageRequest, context: grpc.ServicerContext) -> features_pb2.ExtractResponse:
        self._check_size([request.input])
        config, image = self._config(request.config), image_config(request.image)
        clips = self._clips(request.input, config.sample_rate)
        ensure_active(context)
        images = self.engine.images(self.engine.logmels(self._ok(clips), config), config.n_mels, image)
        return features_pb2.ExtractResponse(items=self._items(request.input.id, clips, images),
                                            config=config_ref(config, request.config.preset))

    def ExtractBovw(self, request: features_pb2.ExtractBovwRequest, context: grpc.ServicerContext) -> features_pb2.ExtractResponse:
        self._check_size([request.input])
        loaded = self._vocabulary(request.vocabulary)
        config = self._bovw_config(request.config, loaded)
        clips = self._clips(request.input, config.sample_rate)
        ensure_active(context)
        results = self.engine.bovw(self.engine.logmels(self._ok(clips), config), loaded, config.n_mels)
        return features_pb2.ExtractResponse(
            items=self._items(request.input.id, clips, [h for h, _ in results], [k for _, k in results]),
            config=config_ref(config, request.config.preset),
            vocabulary=common_pb2.ModelRef(name=loaded.name, version=loaded.version),
        )

    def ExtractEgemaps(self, request: features_pb2.ExtractEgemapsRequest, context: grpc.ServicerContext) -> features_pb2.ExtractResponse:
        self._check_size([request.input])
        feature_set = smile_set(request.feature_set)
        clips = self._clips(request.input, self.settings.target_sample_rate)
        ensure_active(context)
        values, names = self.engine.egemaps(self._ok(clips), self.settings.target_sample_rate, feature_set)
        return features_pb2.ExtractResponse(items=self._items(request.input.id, clips, values),
                                            config=smile_ref(feature_set), feature_names=names)

    def BatchExtract(self, request: features_pb2.BatchExtractRequest, context: grpc.ServicerContext) -> features_pb2.BatchExtractResponse:
        if not request.kinds:
            raise InvalidInput("kinds: ask for at least one feature kind")
        unknown = [k for k in request.kinds if k not in KIND_KEYS]
        if unknown:
            raise InvalidInput(f"kinds: unknown or unspecified feature kind(s) {unknown}")
        kinds = {KIND_KEYS[k] for k in request.kinds}
        self._check_size(request.inputs)
        config = self._config(request.config, request.deltas)
        response = features_pb2.BatchExtractResponse(config=config_ref(config, request.config.preset))
        loaded: VocabularyArtifact | None = None
        if "bovw" in kinds:
            loaded = self._vocabulary(request.vocabulary)
            bovw_config = self._bovw_config(request.config, loaded)
            if bovw_config.sample_rate != config.sample_rate:
                raise InvalidInput("the vocabulary's log-mel config has another sample rate than the request's")
            response.vocabulary.CopyFrom(common_pb2.ModelRef(name=loaded.name, version=loaded.version))
        feature_set = smile_set(request.feature_set) if "egemaps" in kinds else ""
        image = image_config(request.image) if "image" in kinds else None

        groups: list[InputClips] = []
        for inp in request.inputs:
            ensure_active(context)
            try:
                groups.append(InputClips(inp.id, self._clips(inp, config.sample_rate)))
            except InvalidInput as exc:  # one bad recording does not sink the batch
                groups.append(InputClips(inp.id, [Clip(None, None, exc)]))
        clips = [c for g in groups for c in g.clips]
        samples = self._ok(clips)
        tensors: dict[str, list[np.ndarray]] = {}
        ensure_active(context)
        if "log_mel" in kinds:
            tensors["log_mel"] = self.engine.logmels(samples, config, int(request.window_frames))
        if image is not None:
            mels = tensors["log_mel"] if "log_mel" in kinds and not request.window_frames else self.engine.logmels(samples, config)
            tensors["image"] = self.engine.images(mels, config.n_mels, image)
        if loaded is not None:
            ensure_active(context)
            bovw_mels = self.engine.logmels(samples, bovw_config)
            tensors["bovw"] = [h for h, _ in self.engine.bovw(bovw_mels, loaded, bovw_config.n_mels)]
        if feature_set:
            ensure_active(context)
            values, names = self.engine.egemaps(samples, config.sample_rate, feature_set)
            tensors["egemaps"] = values
            response.feature_names.extend(names)

        good = 0
        for group in groups:
            for clip in group.clips:
                item = response.items.add(id=group.id)
                if clip.segment is not None:
                    item.segment.CopyFrom(clip.segment)
                if clip.error is not None:
                    item.error.CopyFrom(error_detail(clip.error))
                    continue
                for key, values in tensors.items():
                    item.tensors[key].CopyFrom(ndarray_to_tensor(np.asarray(values[good], dtype=np.float32)))
                good += 1
        return response

    def ExtractModelInputs(self, request_iterator: Iterable[features_pb2.ModelInputsRequest],
                           context: grpc.ServicerContext) -> Iterator[features_pb2.ModelInputsResponse]:
        requests = checked(request_iterator, context, what="model inputs stream")
        first = next(requests, None)
        if first is None:
            return
        if first.WhichOneof("kind") != "config":
            raise InvalidInput("the first ExtractModelInputs message must carry `config` (the model's feature config)")
        config = model_input_config(first.config)
        builder = self.engine.builder(config)
        ref = common_pb2.FeatureConfigRef(hash=config.hash())
        for part in chunks(requests):
            ensure_active(context)
            yield from answer_chunk(part, builder, self.limits, self.settings.min_audio_ms, ref)
