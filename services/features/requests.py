"""Request fields of ser.v1.Features -> library configs, with the contract's errors (no computation)."""
from __future__ import annotations

import json

from ser.v1 import common_pb2, features_pb2

from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.features.config import PRESETS, LogMelConfig, config_hash
from shared.features.image import ImageConfig

MAX_BATCH_ITEMS = 1024
MAX_IMAGE_SIZE = 1024
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
            check_field_types(data)
            config = LogMelConfig.from_dict(data)
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise InvalidInput(f"config.json is not a valid log-mel config: {exc}") from exc
    else:
        config = None
    if ref.hash and ref.hash != (config or LogMelConfig()).hash():
        raise ConfigMismatch(f"config hash {ref.hash} does not match the resolved config {(config or LogMelConfig()).hash()}")
    return config


def check_field_types(data: dict) -> None:
    """JSON types of a requested config must match the defaults' (LogMelConfig itself trusts its callers)."""
    defaults = LogMelConfig().to_dict()
    for key, value in data.items():
        default = defaults.get(key)
        if key not in defaults or value is None:
            continue  # unknown fields and None are judged by LogMelConfig
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(default, bool) and isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int)
        elif isinstance(default, float) or default is None:
            ok = isinstance(value, (int, float))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise InvalidInput(f"config.json field {key!r} has the wrong type: {value!r}")


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
    if height > MAX_IMAGE_SIZE:  # an unbounded size asked for gigabytes per image (found by hostile-input tests)
        raise InvalidInput(f"image size {height} is over the limit of {MAX_IMAGE_SIZE} pixels")
    return ImageConfig(size=int(height), channels=int(options.channels or 3), imagenet_norm=options.imagenet_normalize)


def smile_set(value: int) -> str:
    if value not in SMILE_SETS:
        raise InvalidInput(f"unknown feature_set value {value}")
    return SMILE_SETS[value]
