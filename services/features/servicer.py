"""ser.v1.Features over ``shared.features``: request parsing and response building only.

Audio is decoded at the feature config's rate (16 kHz for every preset); each input gives one item
(the whole recording, mixed down) or one item per segment. Every extraction of a request runs as
one batch through the engine. Unknown presets and vocabularies are NOT_FOUND, undecodable audio
INVALID_ARGUMENT, a config that differs from the vocabulary's FAILED_PRECONDITION.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import numpy as np
from ser.v1 import common_pb2, features_pb2, features_pb2_grpc

from services.common.clips import Clip, clips_of, decode_request_audio, error_detail
from services.common.convert import ndarray_to_tensor
from services.common.deadlines import ensure_active
from services.features.engine import FeatureEngine, LoadedVocabulary
from shared.audio.decode import AudioLimits
from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.features.config import PRESETS, LogMelConfig, config_hash
from shared.features.image import ImageConfig
from shared.settings import Settings

MAX_BATCH_ITEMS = 1024
DEFAULT_VOCABULARY = "default"
SMILE_SETS = {
    features_pb2.SMILE_FEATURE_SET_UNSPECIFIED: "egemaps",
    features_pb2.SMILE_FEATURE_SET_EGEMAPS_V02: "egemaps",
    features_pb2.SMILE_FEATURE_SET_EMOBASE: "emobase",
}
KIND_KEYS = {
    features_pb2.FEATURE_KIND_LOG_MEL: "log_mel",
    features_pb2.FEATURE_KIND_IMAGE: "image",
    features_pb2.FEATURE_KIND_BOVW: "bovw",
    features_pb2.FEATURE_KIND_EGEMAPS: "egemaps",
}


def requested_config(ref: common_pb2.FeatureConfigRef) -> LogMelConfig | None:
    """The config a request names (preset or JSON), None when it names none; its hash, if given, must agree."""
    if ref.preset and ref.json:
        raise InvalidInput("config: set at most one of `preset` and `json`")
    if ref.preset:
        if ref.preset not in PRESETS:
            raise NotFound(f"unknown feature preset {ref.preset!r}; known: {sorted(PRESETS)}")
        config: LogMelConfig | None = PRESETS[ref.preset]
    elif ref.json:
        try:
            data = json.loads(ref.json)
            if not isinstance(data, dict):
                raise InvalidInput("config.json must be a JSON object")
            config = LogMelConfig.from_dict(data)
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise InvalidInput(f"config.json is not a valid log-mel config: {exc}") from exc
    else:
        config = None
    if ref.hash and ref.hash != (config or LogMelConfig()).hash():
        raise ConfigMismatch(f"config hash {ref.hash} does not match the resolved config {(config or LogMelConfig()).hash()}")
    return config


def config_ref(config: LogMelConfig, preset: str = "") -> common_pb2.FeatureConfigRef:
    canonical = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    return common_pb2.FeatureConfigRef(hash=config.hash(), preset=preset, json=canonical)


def smile_ref(feature_set: str) -> common_pb2.FeatureConfigRef:
    data = {"opensmile": feature_set, "level": "functionals"}
    return common_pb2.FeatureConfigRef(hash=config_hash(data), json=json.dumps(data, sort_keys=True))


def image_config(options: features_pb2.ImageOptions) -> ImageConfig:
    height, width = options.height or 224, options.width or 224
    if height != width:
        raise InvalidInput(f"image must be square (the models take size x size), got {height}x{width}")
    return ImageConfig(size=int(height), channels=int(options.channels or 3), imagenet_norm=options.imagenet_normalize)


def smile_set(value: int) -> str:
    if value not in SMILE_SETS:
        raise InvalidInput(f"unknown feature_set value {value}")
    return SMILE_SETS[value]


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

    def _vocabulary(self, ref: common_pb2.ModelRef) -> LoadedVocabulary:
        return self.engine.vocabulary(ref.name or DEFAULT_VOCABULARY, ref.version)

    def _bovw_config(self, ref: common_pb2.FeatureConfigRef, loaded: LoadedVocabulary) -> LogMelConfig:
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
        loaded: LoadedVocabulary | None = None
        if "bovw" in kinds:
            loaded = self._vocabulary(request.vocabulary)
            bovw_config = self._bovw_config(request.config, loaded)
            if bovw_config.sample_rate != config.sample_rate:
                raise InvalidInput("the vocabulary's log-mel config has another sample rate than the request's")
            response.vocabulary.CopyFrom(common_pb2.ModelRef(name=loaded.name, version=loaded.version))
        feature_set = smile_set(request.feature_set) if "egemaps" in kinds else ""
        image = image_config(request.image) if "image" in kinds else None

        groups: list[InputClips] = []
        for index, inp in enumerate(request.inputs):
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

