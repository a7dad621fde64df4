"""SER_PIPELINE=inprocess and =services give the same posteriors for the same call, and services mode's
faults are typed (FAILED_PRECONDITION, DEADLINE_EXCEEDED, UNAVAILABLE), never a wrong answer.

One stack in this process: preprocess, features, speaker and inference servers, and two gateways, one per
mode, both pointed at them. Models: the shipped default (utterance functionals + GE2E, per-speaker
statistics) and a Speaker CCT on log-mel images trained (randomly initialised) with per-speaker
normalisation, the contract tests' log-mel model. Both modes run the real GE2E encoder.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import (
    analysis_pb2,
    analysis_pb2_grpc,
    common_pb2,
    emotion_pb2,
    emotion_pb2_grpc,
    features_pb2,
    features_pb2_grpc,
)

from services.common.client import channel
from services.common.convert import ndarray_to_tensor
from services.common.server import registrar, start_server
from services.features.engine import FeatureEngine
from services.features.server import serve as serve_features
from services.features.servicer import FeaturesServicer
from services.gateway.convert import segment_audio
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.preprocess.server import serve as serve_preprocess
from services.speaker.server import serve as serve_speaker
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from shared.registry.bundled import seed_registry
from tests.contract.test_gateway_service import base_settings
from tests.contract.tiny_model import publish_speaker_tiny
from tests.helpers import free_port

MODELS = ("default", "speaker")  # the shipped utterance model; a per-speaker log-mel Speaker CCT


@dataclasses.dataclass
class Stack:
    addresses: dict[str, str]
    exits: ExitStack

    def gateway(self, pipeline: str, **addresses: str) -> analysis_pb2_grpc.CallAnalysisStub:
        settings = dataclasses.replace(base_settings(), addresses={**self.addresses, **addresses}, pipeline=pipeline)
        gateway = serve_gateway(settings, port=0)
        self.exits.callback(gateway.stop, 0)
        ch = channel(f"127.0.0.1:{gateway.port}", settings)
        self.exits.callback(ch.close)
        return analysis_pb2_grpc.CallAnalysisStub(ch)


def serve_features_with(servicer: FeaturesServicer, exits: ExitStack) -> str:
    server, port = start_server("features", base_settings(),
                                registrar(features_pb2_grpc.add_FeaturesServicer_to_server, servicer), port=0,
                                health_services=["ser.v1.Features"])
    exits.callback(server.stop, 0)
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("registry")
    seed_registry(root)
    publish_speaker_tiny(root, tmp_path_factory.mktemp("pca"), normalization="per_speaker")
    settings = base_settings()
    with ExitStack() as exits:
        preprocess, preprocess_port = serve_preprocess(settings, port=0)
        exits.callback(preprocess.stop, 0)
        features, features_port = serve_features(settings, port=0, engine=FeatureEngine(settings.artifacts_dir,
                                                                                         workers=2))
        exits.callback(features.stop, 0)
        speaker, speaker_port = serve_speaker(settings, port=0)
        exits.callback(speaker.stop, 0)
        inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=0.5), registry=ModelRegistry(root),
                                    device="cpu")
        exits.callback(inference.stop, 0)
        addresses = {**settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}",
                     "features": f"127.0.0.1:{features_port}", "speaker": f"127.0.0.1:{speaker_port}",
                     "inference": f"127.0.0.1:{inference.port}"}
        yield Stack(addresses, exits)


@pytest.fixture(scope="module")
def gateways(stack) -> dict[str, analysis_pb2_grpc.CallAnalysisStub]:
    return {mode: stack.gateway(mode) for mode in ("inprocess", "services")}


def call(model: str = "default") -> analysis_pb2.AnalyzeCallRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=sample_call_path().read_bytes()))
    return analysis_pb2.AnalyzeCallRequest(audio=audio, call_id="modes", options=analysis_pb2.AnalyzeOptions(
        model=common_pb2.ModelRef(name=model)))


def probs(reply: analysis_pb2.AnalyzeCallResponse) -> np.ndarray:
    return np.array([list(e.emotion.probs) for e in reply.timeline])


@pytest.mark.parametrize("model", MODELS)
def test_both_pipelines_give_the_same_posteriors(gateways, model):
    inprocess = gateways["inprocess"].AnalyzeCall(call(model), timeout=300)
    services = gateways["services"].AnalyzeCall(call(model), timeout=300)
    segments = [(e.segment.channel, e.segment.start_ms, e.segment.end_ms) for e in inprocess.timeline]
    assert segments == [(e.segment.channel, e.segment.start_ms, e.segment.end_ms) for e in services.timeline]
    assert len(segments) >= 6 and {c for c, _, _ in segments} == {0, 1}
    assert services.model == inprocess.model and services.model.version
    assert services.feature_config.hash == inprocess.feature_config.hash
    a, b = probs(inprocess), probs(services)
    print(f"{model}: {len(segments)} segments, largest posterior difference {np.abs(a - b).max():.2e}")
    assert np.abs(a - b).max() < 1e-4, f"{model}: posteriors differ by {np.abs(a - b).max():.2e}"
    # the posteriors are not all alike: a pipeline that dropped the per-channel statistics would not pass
    assert np.abs(a - a.mean(axis=0)).max() > 1e-3


@pytest.mark.parametrize("model", MODELS)
def test_both_pipelines_give_the_same_posteriors_on_a_live_stream(gateways, model):
    """AnalyzeStream: per-channel running statistics, one features stream and one EmbedBatch per segment."""
    data, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=2, encoding=common_pb2.PCM_ENCODING_S16LE)
    messages = [analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig(
        format=fmt, options=analysis_pb2.AnalyzeOptions(model=common_pb2.ModelRef(name=model))))]
    messages += [analysis_pb2.AnalyzeStreamRequest(chunk=data[k : k + rate // 10].tobytes())
                 for k in range(0, len(data), rate // 10)]
    entries = {}
    for mode, stub in gateways.items():
        replies = list(stub.AnalyzeStream(iter(messages), timeout=300))
        entries[mode] = [r.entry for r in replies if r.HasField("entry")]
    inprocess, services = entries["inprocess"], entries["services"]
    assert [e.segment for e in services] == [e.segment for e in inprocess] and len(inprocess) >= 6
    a = np.array([list(e.emotion.probs) for e in inprocess])
    b = np.array([list(e.emotion.probs) for e in services])
    assert np.abs(a - b).max() < 1e-4, f"{model}: posteriors differ by {np.abs(a - b).max():.2e}"


class SkewedFeatures(FeaturesServicer):
    """A features build whose front end differs from the model's (another window stride): it computes and
    labels its inputs with its own config, as a version skew between the two services would."""

    def ExtractModelInputs(self, request_iterator, context):
        def skewed():
            first = next(iter(request_iterator))
            config = json.loads(first.config.json)
            config["stride_s"] = config.get("stride_s", 1.5) / 2
            yield features_pb2.ModelInputsRequest(config=common_pb2.FeatureConfigRef(json=json.dumps(config)))
            yield from request_iterator

        return super().ExtractModelInputs(skewed(), context)


class HungFeatures(FeaturesServicer):
    """A features service that never answers (stuck on a device, a deadlock)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.released = threading.Event()

    def ExtractModelInputs(self, request_iterator, context):
        while context.is_active() and not self.released.wait(0.05):
            pass
        return iter(())


def test_a_feature_config_hash_mismatch_fails_the_call_with_failed_precondition(stack, gateways):
    address = serve_features_with(SkewedFeatures(base_settings()), stack.exits)
    gateway = stack.gateway("services", features=address)
    with pytest.raises(grpc.RpcError) as err:
        gateway.AnalyzeCall(call("speaker"), timeout=120)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "feature" in err.value.details()


def test_a_features_service_that_times_out_gives_deadline_exceeded(stack):
    hung = HungFeatures(base_settings())
    gateway = stack.gateway("services", features=serve_features_with(hung, stack.exits))
    started = time.perf_counter()
    try:
        with pytest.raises(grpc.RpcError) as err:
            gateway.AnalyzeCall(call("default"), timeout=5)
    finally:
        hung.released.set()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.perf_counter() - started < 7


@pytest.mark.parametrize("service", ["features", "speaker"])
def test_a_dead_features_or_speaker_service_gives_unavailable(stack, service):
    """The speaker service is only called for a speaker-aware model (the shipped default embeds no speaker)."""
    gateway = stack.gateway("services", **{service: f"127.0.0.1:{free_port()}"})  # nothing listens there
    started = time.perf_counter()
    with pytest.raises(grpc.RpcError) as err:
        gateway.AnalyzeCall(call("default" if service == "features" else "speaker"), timeout=60)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.perf_counter() - started < 30, "a dead service is reported, not waited for"


def clip_audio(seconds: float = 1.5, f0: float = 150.0) -> common_pb2.AudioPayload:
    t = np.arange(int(16000 * seconds)) / 16000
    return segment_audio((0.2 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))), 16000)


def features_stream(stack: Stack, *messages: features_pb2.ModelInputsRequest) -> list:
    with channel(stack.addresses["features"], base_settings(), service="features") as ch:
        return list(features_pb2_grpc.FeaturesStub(ch).ExtractModelInputs(iter(messages), timeout=60))


def test_features_refuses_a_stream_without_a_valid_config_and_fails_bad_clips_alone(stack):
    with channel(stack.addresses["inference"], base_settings(), service="inference") as ch:
        info = emotion_pb2_grpc.EmotionStub(ch).GetModel(emotion_pb2.GetModelRequest(
            model=common_pb2.ModelRef(name="speaker")), timeout=30)
    config = features_pb2.ModelInputsRequest(config=info.feature_config)
    good = features_pb2.ModelInputsRequest(input=features_pb2.FeatureInput(audio=clip_audio(), id="good"))
    cut = features_pb2.ModelInputsRequest(input=features_pb2.FeatureInput(
        audio=clip_audio(), id="cut", segments=[common_pb2.Segment(start_ms=0, end_ms=500)]))
    replies = features_stream(stack, config, good, cut, good)
    assert [r.id for r in replies] == ["good", "cut", "good"]
    assert [r.HasField("error") for r in replies] == [False, True, False]
    assert all(r.config.hash == info.feature_config.hash for r in replies)
    windows = tuple(replies[0].inputs.shape)
    assert len(windows) == 3 and windows[0] == 2  # 1.5 s in 1 s windows every 0.5 s: (windows, n_mels, frames)
    for messages, code in (((good,), grpc.StatusCode.INVALID_ARGUMENT),
                           ((features_pb2.ModelInputsRequest(config=common_pb2.FeatureConfigRef(
                               json=info.feature_config.json, hash="0" * 16)), good),
                            grpc.StatusCode.FAILED_PRECONDITION),
                           ((config, good, config), grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as err:
            features_stream(stack, *messages)
        assert err.value.code() == code


def test_inference_refuses_raw_inputs_without_the_models_hash(stack):
    with channel(stack.addresses["inference"], base_settings(), service="inference") as ch:
        stub = emotion_pb2_grpc.EmotionStub(ch)
        info = stub.GetModel(emotion_pb2.GetModelRequest(model=common_pb2.ModelRef(name="speaker")), timeout=30)
        [reply] = features_stream(stack, features_pb2.ModelInputsRequest(config=info.feature_config),
                                  features_pb2.ModelInputsRequest(input=features_pb2.FeatureInput(audio=clip_audio())))
        embedding = np.ones(256, np.float32) / 16.0
        def request(hash_: str, inputs: common_pb2.Tensor = reply.inputs) -> emotion_pb2.PredictRequest:
            return emotion_pb2.PredictRequest(model=info.ref, raw_inputs=inputs, speaker_group="channel0",
                                              feature_config=common_pb2.FeatureConfigRef(hash=hash_),
                                              speaker_embedding=ndarray_to_tensor(embedding))

        ok = stub.Predict(request(info.feature_config.hash), timeout=30)
        assert len(ok.posteriors.probs) == 4
        for bad in ("", "0" * 16):
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(request(bad), timeout=30)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as err:  # one item for another config fails the whole grouped call
            list(stub.PredictGrouped(iter([request(info.feature_config.hash), request("0" * 16)]), timeout=30))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        wrong = ndarray_to_tensor(np.zeros((2, 7, 9), np.float32))
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request(info.feature_config.hash, wrong), timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "raw_inputs of shape" in err.value.details()


def test_a_grouped_stream_of_precomputed_inputs_is_bounded_and_the_server_still_serves(stack, monkeypatch):
    """Raw inputs are held until the stream ends (group statistics need all of them), so their total is
    limited like audio is: past PRECOMPUTED_PER_AUDIO_BYTE x SER_MAX_AUDIO_MB the call is refused."""
    import services.inference.servicer as servicer

    with channel(stack.addresses["inference"], base_settings(), service="inference") as ch:
        stub = emotion_pb2_grpc.EmotionStub(ch)
        info = stub.GetModel(emotion_pb2.GetModelRequest(model=common_pb2.ModelRef(name="speaker")), timeout=30)
        [reply] = features_stream(stack, features_pb2.ModelInputsRequest(config=info.feature_config),
                                  features_pb2.ModelInputsRequest(input=features_pb2.FeatureInput(audio=clip_audio())))
        request = emotion_pb2.PredictRequest(model=info.ref, raw_inputs=reply.inputs, speaker_group="channel0",
                                             feature_config=common_pb2.FeatureConfigRef(hash=info.feature_config.hash),
                                             speaker_embedding=ndarray_to_tensor(np.ones(256, np.float32) / 16.0))
        audio_limit = base_settings().max_audio_bytes
        # room for two requests' inputs, not three
        monkeypatch.setattr(servicer, "PRECOMPUTED_PER_AUDIO_BYTE", 2.5 * reply.inputs.ByteSize() / audio_limit)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.PredictGrouped(iter([request] * 3), timeout=30))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "precomputed inputs" in err.value.details()
        assert len(list(stub.PredictGrouped(iter([request] * 2), timeout=30))) == 2

