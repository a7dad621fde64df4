"""Features.ExtractModelInputs: one model's group-independent inputs for the clips of a call.

The numbers come from ``InputBuilder.raw_inputs`` of the model's own ``ModelInputConfig``, the code
the inference service runs in-process, so SER_PIPELINE=services and =inprocess compute the same
inputs; only the group statistics, normalisation and forward pass stay in inference. Every answer
names the hash of the config it was computed with, and inference refuses inputs whose hash is not its
model card's (FAILED_PRECONDITION), so features computed for one model version never reach another.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np
from ser.v1 import common_pb2, features_pb2

from services.common.clips import clips_of, decode_request_audio, error_detail
from services.common.convert import ndarray_to_tensor
from shared.audio.decode import AudioLimits
from shared.errors import ConfigMismatch, InvalidInput, SerError
from shared.features.inputs import SAMPLE_RATE, InputBuilder, ModelInputConfig

CHUNK_CLIPS = 64  # clips computed together: one batched front-end pass (parallel openSMILE for functionals)


def model_input_config(ref: common_pb2.FeatureConfigRef) -> ModelInputConfig:
    """The config a stream's first message names; its hash, when given, must be the JSON's."""
    if not ref.json:
        raise InvalidInput("config.json: send the model's feature config (ModelInfo.feature_config)")
    try:
        data = json.loads(ref.json)
        if not isinstance(data, dict):
            raise InvalidInput("config.json must be a JSON object")
        config = ModelInputConfig.from_dict(data)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and SpecError are ValueErrors or InvalidInput
        raise InvalidInput(f"config.json is not a model input config: {exc}") from exc
    if ref.hash and ref.hash != config.hash():
        raise ConfigMismatch(f"config hash {ref.hash} does not match its JSON, which hashes to {config.hash()}")
    return config


def _clip(inp: features_pb2.FeatureInput, limits: AudioLimits, min_ms: int) -> np.ndarray | SerError:
    if inp.segments:
        return InvalidInput("ExtractModelInputs takes one clip per input: send each segment as its own audio")
    try:
        [clip] = clips_of(decode_request_audio(inp.audio, limits, SAMPLE_RATE), [], min_ms)
    except SerError as exc:
        return exc
    return clip.samples if clip.samples is not None else InvalidInput("no audio")


def answer_chunk(inputs: Sequence[features_pb2.FeatureInput], builder: InputBuilder, limits: AudioLimits,
                 min_ms: int, ref: common_pb2.FeatureConfigRef) -> list[features_pb2.ModelInputsResponse]:
    """One answer per input, in order; a clip that fails is that answer's error."""
    clips = [_clip(inp, limits, min_ms) for inp in inputs]
    good = [c for c in clips if isinstance(c, np.ndarray)]
    computed = iter(builder.raw_inputs(good))
    out = []
    for inp, clip in zip(inputs, clips, strict=True):
        value = next(computed) if isinstance(clip, np.ndarray) else clip
        response = features_pb2.ModelInputsResponse(id=inp.id, config=ref)
        if isinstance(value, SerError):
            response.error.CopyFrom(error_detail(value, "input"))
        else:
            response.inputs.CopyFrom(ndarray_to_tensor(np.asarray(value, dtype=np.float32)))
        out.append(response)
    return out


def chunks(requests: Iterator[features_pb2.ModelInputsRequest]) -> Iterator[list[features_pb2.FeatureInput]]:
    """The clip messages after the config, CHUNK_CLIPS at a time (a second config is refused)."""
    while part := list(islice(requests, CHUNK_CLIPS)):
        if any(r.WhichOneof("kind") != "input" for r in part):
            raise InvalidInput("ExtractModelInputs accepts `config` only once, as the first message")
        yield [r.input for r in part]
