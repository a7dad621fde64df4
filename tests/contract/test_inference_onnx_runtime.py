"""ONNX Runtime serving through the inference service: the same posteriors as torch (fp32, within 1e-4)
for the shipped default utterance model and a log-mel model, the dynamic batcher batching ORT requests,
an int8 version recorded on its card, and a bad runtime refused with a typed error."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from ser.v1 import common_pb2, emotion_pb2

from services.common.convert import source_to_audio_payload
from shared.assets import sample_call_path
from shared.audio.decode import RawPcmSpec
from shared.errors import SpecError
from shared.features.inputs import ModelInputConfig
from shared.models.registry import build_model
from shared.registry import ModelCard, ModelRegistry
from shared.registry.bundled import BUNDLED_ROOT
from shared.registry.onnx_publish import publish_onnx
from shared.registry.onnx_runtime import ONNX_ARTIFACT
from tests.contract.test_inference_service import metric, start, stub_for
from tests.contract.tiny_model import LABELS

PARRY = ModelInputConfig.from_dict({"kind": "logmel", "preset": "parry", "window_s": 1.0, "stride_s": 0.5})


def speech_clips(count: int = 4, seconds: float = 2.5) -> list[np.ndarray]:
    """Real speech: slices of the sample call's two channels, 16 kHz mono."""
    data, rate = sf.read(sample_call_path(), dtype="float32", always_2d=True)
    channels = [soxr.resample(data[:, c], rate, 16000).astype(np.float32) for c in range(data.shape[1])]
    n = int(seconds * 16000)
    return [channels[i % 2][(i // 2) * 3 * n + 16000 : (i // 2) * 3 * n + 16000 + n] for i in range(count)]


def batch_request(model: str, version: str, clips: list[np.ndarray]) -> emotion_pb2.PredictBatchRequest:
    ref = common_pb2.ModelRef(name=model, version=version)
    return emotion_pb2.PredictBatchRequest(model=ref, items=[
        emotion_pb2.PredictRequest(model=ref, request_id=str(i), speaker_group=f"ch{i % 2}",
                                   audio=source_to_audio_payload(c.tobytes(), RawPcmSpec(16000, 1, "pcm_f32le")))
        for i, c in enumerate(clips)])


def served_probs(stub, model: str, version: str, clips: list[np.ndarray]) -> np.ndarray:
    reply = stub.PredictBatch(batch_request(model, version, clips), timeout=120)
    return np.array([list(r.posteriors.probs) for r in reply.items])


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> ModelRegistry:
    """The shipped default model (default:2) as committed, a random log-mel Parry CNN-LSTM, and the
    default model republished for onnxruntime, fp32 and int8."""
    root = tmp_path_factory.mktemp("registry")
    registry = ModelRegistry(root)
    shipped, _ = ModelRegistry(BUNDLED_ROOT).load("default", "2")
    card = ModelRegistry(BUNDLED_ROOT).card("default", "2")
    pca = ModelRegistry(BUNDLED_ROOT).artifact_path("default", "2", "speaker_pca")
    registry.publish(shipped, card.replace(side_artifacts={}), name="default", version="2",
                     artifacts={"speaker_pca": pca}, alias="default")
    torch.manual_seed(0)
    logmel = build_model("parry_cnn_lstm", len(LABELS))
    registry.publish(logmel, ModelCard.describe(logmel, architecture="parry_cnn_lstm", labels=LABELS,
                                                feature_config=PARRY.to_dict(), git_commit="test"),
                     name="logmel", alias="default")
    publish_onnx(registry, "default", "2", as_name="default_ort")
    publish_onnx(registry, "default", "2", as_name="default_int8", int8=True)
    return registry


@pytest.fixture(scope="module")
def servers(registry):
    """One server on the cards' runtime (torch for default/logmel), one with SER_RUNTIME=onnxruntime."""
    torch_server = start(registry.root, preload=False)
    ort_server = start(registry.root, preload=False, runtime="onnxruntime")
    channels = [stub_for(torch_server), stub_for(ort_server)]
    yield {"torch": (torch_server, channels[0][1]), "onnxruntime": (ort_server, channels[1][1])}
    for ch, _ in channels:
        ch.close()
    torch_server.stop(0)
    ort_server.stop(0)


@pytest.mark.parametrize(("model", "version"), [("default", "2"), ("logmel", "1")])
def test_onnxruntime_serves_the_same_posteriors_as_torch(servers, model, version):
    clips = speech_clips()
    by_runtime = {rt: served_probs(stub, model, version, clips) for rt, (_, stub) in servers.items()}
    assert by_runtime["torch"].shape == (len(clips), len(LABELS))
    np.testing.assert_allclose(by_runtime["onnxruntime"], by_runtime["torch"], atol=1e-4, rtol=0)
    assert np.ptp(by_runtime["torch"], axis=0).max() > 1e-3, "the clips get different posteriors (a real check)"
    loaded = {rt: s.servicer.manager.get(model, version).runtime for rt, (s, _) in servers.items()}
    assert loaded == {"torch": "torch", "onnxruntime": "onnxruntime"}


def test_a_card_that_says_onnxruntime_is_served_by_it_and_the_batcher_batches(servers):
    server, stub = servers["torch"]  # no SER_RUNTIME: the card decides
    clips = speech_clips(2)
    want = served_probs(stub, "default", "2", clips)
    np.testing.assert_allclose(served_probs(stub, "default_ort", "1", clips), want, atol=1e-4, rtol=0)
    assert server.servicer.manager.get("default_ort", "1").runtime == "onnxruntime"

    logmel = speech_clips(1)[0]
    request = emotion_pb2.PredictRequest(model=common_pb2.ModelRef(name="logmel"),
                                         audio=source_to_audio_payload(logmel.tobytes(),
                                                                       RawPcmSpec(16000, 1, "pcm_f32le")))
    ort_server, ort_stub = servers["onnxruntime"]
    before = (metric(ort_server, "ser_inference_batch_size_sum"), metric(ort_server, "ser_inference_batch_size_count"))
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: ort_stub.Predict(request, timeout=60), range(48)))
    after = (metric(ort_server, "ser_inference_batch_size_sum"), metric(ort_server, "ser_inference_batch_size_count"))
    assert len({tuple(np.round(r.posteriors.probs, 5)) for r in replies}) == 1
    assert after[0] - before[0] == 48 and after[1] - before[1] < 48, "some ORT forward passes held several requests"


def test_int8_version_is_recorded_on_its_card_and_served_quantised(registry, servers):
    card = registry.card("default_int8", "1")
    assert card.serving["runtime"] == "onnxruntime" and card.serving["quantization"] == "dynamic-int8"
    assert card.serving["exported_from"] == "default:2" and "speaker_pca" in card.side_artifacts
    assert card.serving["max_abs_diff_probs_fp32"] <= 1e-4 < card.serving["max_abs_diff_probs"]
    fp32 = registry.artifact_path("default_ort", "1", ONNX_ARTIFACT).stat().st_size
    assert registry.artifact_path("default_int8", "1", ONNX_ARTIFACT).stat().st_size < 0.5 * fp32
    server, stub = servers["torch"]
    clips = speech_clips(2)
    got = served_probs(stub, "default_int8", "1", clips)
    assert server.servicer.manager.get("default_int8", "1").runtime == "onnxruntime-int8"
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(got - served_probs(stub, "default", "2", clips)).max() > 1e-6, "int8 weights, not the fp32 graph"


def test_an_unknown_runtime_is_a_typed_error(registry, tmp_path):
    from services.inference.config import InferenceConfig

    with pytest.raises(SpecError, match="runtime must be one of"):
        InferenceConfig.from_env({"SER_RUNTIME": "tensorrt"})
    model, card = registry.load("logmel")
    root = tmp_path / "registry"
    ModelRegistry(root).publish(model, card.replace(serving={"runtime": "tvm"}), name="odd", alias="default")
    server = start(root, preload=False)
    ch, stub = stub_for(server)
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(emotion_pb2.PredictRequest(model=common_pb2.ModelRef(name="odd"),
                                                    audio=source_to_audio_payload(
                                                        speech_clips(1)[0].tobytes(),
                                                        RawPcmSpec(16000, 1, "pcm_f32le"))), timeout=30)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "runtime must be one of" in \
            err.value.details()
    finally:
        ch.close()
        server.stop(0)


def test_providers_prefer_cuda_only_on_a_gpu_device():
    from shared.registry.onnx_runtime import providers_for

    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    assert providers_for("cpu", [cuda, cpu]) == [cpu]
    assert providers_for("cuda:0", [cuda, cpu]) == [cuda, cpu]
    assert providers_for("cuda", [cpu]) == [cpu]  # a CPU-only onnxruntime build still serves

