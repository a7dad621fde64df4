"""ser.v1.Emotion over real gRPC: in-process servers on ephemeral ports, tiny random models in a tmp registry."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from ser.v1 import common_pb2, emotion_pb2, emotion_pb2_grpc

import services.inference.loaded_model as loaded_model
from services.common.client import channel
from services.common.convert import ndarray_to_tensor, source_to_audio_payload
from services.inference.config import InferenceConfig
from services.inference.server import InferenceServer, serve
from shared.audio.decode import RawPcmSpec
from shared.registry import ModelRegistry
from shared.settings import Settings
from tests.contract.tiny_model import INPUTS, LABELS, publish_tiny


def audio_payload(seconds: float = 0.5, seed: int = 0) -> common_pb2.AudioPayload:
    x = (0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32)
    return source_to_audio_payload(x.tobytes(), RawPcmSpec(16000, 1, "pcm_f32le"))


def settings() -> Settings:
    return dataclasses.replace(Settings.from_env(env={}), grpc_workers=64)


def start(root: Path, **config) -> InferenceServer:
    defaults = {"metrics_port": 0, "poll_s": 0.2, "max_queue_delay_ms": 20.0}
    return serve(settings(), port=0, config=InferenceConfig(**{**defaults, **config}), registry=ModelRegistry(root),
                 device="cpu")


def stub_for(server: InferenceServer) -> tuple[grpc.Channel, emotion_pb2_grpc.EmotionStub]:
    ch = channel(f"127.0.0.1:{server.port}", settings())
    return ch, emotion_pb2_grpc.EmotionStub(ch)


def metric(server: InferenceServer, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples if s.name == name)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root)
    server = start(root)
    ch, stub = stub_for(server)
    yield server, stub
    ch.close()
    server.stop(0)


def test_predict_audio_returns_posteriors_of_the_resolved_version(served):
    _, stub = served
    reply = stub.Predict(emotion_pb2.PredictRequest(audio=audio_payload(), request_id="r1"), timeout=10)
    p = reply.posteriors
    assert reply.request_id == "r1" and (reply.model.name, reply.model.version) == ("default", "1")
    assert tuple(p.labels) == LABELS and sum(p.probs) == pytest.approx(1.0, abs=1e-5)
    assert p.top_label == LABELS[int(np.argmax(p.probs))] and -1 <= p.valence <= 1
    assert reply.batch_size >= 1 and reply.compute_ms > 0


def test_200_concurrent_predicts_are_batched_without_errors(served):
    server, stub = served
    before_sum = metric(server, "ser_inference_batch_size_sum")
    before_count = metric(server, "ser_inference_batch_size_count")
    payload = audio_payload()

    def call(i: int) -> emotion_pb2.PredictResponse:
        return stub.Predict(emotion_pb2.PredictRequest(audio=payload, request_id=str(i)), timeout=60)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        replies = list(pool.map(call, range(200)))
    elapsed = time.perf_counter() - started
    assert [r.request_id for r in replies] == [str(i) for i in range(200)]
    requests = metric(server, "ser_inference_batch_size_sum") - before_sum
    batches = metric(server, "ser_inference_batch_size_count") - before_count
    assert requests == 200
    logging.getLogger(__name__).warning("200 Predicts from 64 threads in %.2f s; mean batch size %.1f over %d batches",
                                        elapsed, requests / batches, batches)
    assert requests / batches > 1.0, f"mean batch size {requests / batches:.2f}"
    assert max(r.batch_size for r in replies) > 1


def test_unknown_model_or_version_is_not_found(served):
    _, stub = served
    for ref in (common_pb2.ModelRef(name="nope"), common_pb2.ModelRef(name="default", version="9")):
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(emotion_pb2.PredictRequest(model=ref, audio=audio_payload()), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.GetModel(emotion_pb2.GetModelRequest(model=common_pb2.ModelRef(name="nope")), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_feature_hash_must_match_the_model(served):
    _, stub = served
    x = np.zeros((1, 32, 32), np.float32)
    wrong = emotion_pb2.PredictRequest(features=ndarray_to_tensor(x), feature_config=common_pb2.FeatureConfigRef(hash="0" * 16))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(wrong, timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:  # features with no config at all
        stub.Predict(emotion_pb2.PredictRequest(features=ndarray_to_tensor(x)), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:  # audio that claims another front end
        stub.Predict(emotion_pb2.PredictRequest(audio=audio_payload(), feature_config=wrong.feature_config), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    right = emotion_pb2.PredictRequest(features=ndarray_to_tensor(np.stack([x, x])),
                                       feature_config=common_pb2.FeatureConfigRef(hash=INPUTS.hash()))
    assert stub.Predict(right, timeout=10).posteriors.top_label in LABELS


def test_garbage_audio_is_invalid_and_the_server_keeps_serving(served):
    _, stub = served
    garbage = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=b"RIFF\x00\x01garbage" * 10))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(emotion_pb2.PredictRequest(audio=garbage), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    batch = stub.PredictBatch(emotion_pb2.PredictBatchRequest(items=[
        emotion_pb2.PredictRequest(audio=audio_payload(), request_id="a"),
        emotion_pb2.PredictRequest(audio=garbage, request_id="b"),
        emotion_pb2.PredictRequest(audio=audio_payload(1.7, seed=1), request_id="c"),
    ]), timeout=10)
    assert [i.request_id for i in batch.items] == ["a", "b", "c"]
    assert batch.items[1].error.code and not batch.items[1].HasField("posteriors")
    assert batch.items[0].posteriors.top_label and batch.items[2].posteriors.top_label
    assert stub.Predict(emotion_pb2.PredictRequest(audio=audio_payload()), timeout=10).posteriors.top_label


def test_batch_item_equals_single_predict(served):
    _, stub = served
    payload = audio_payload(2.2, seed=3)
    single = stub.Predict(emotion_pb2.PredictRequest(audio=payload), timeout=10).posteriors.probs
    batch = stub.PredictBatch(emotion_pb2.PredictBatchRequest(items=[
        emotion_pb2.PredictRequest(audio=audio_payload(seed=4)), emotion_pb2.PredictRequest(audio=payload)]), timeout=10)
    assert list(batch.items[1].posteriors.probs) == pytest.approx(list(single), abs=1e-5)


def test_speaker_normalisation_changes_inputs_per_group(served):
    _, stub = served
    items = [emotion_pb2.PredictRequest(audio=audio_payload(1.0, seed=s), speaker_group="channel0",
                                        speaker_normalize=True) for s in range(3)]
    normalised = stub.PredictBatch(emotion_pb2.PredictBatchRequest(items=items), timeout=10)
    plain = stub.PredictBatch(emotion_pb2.PredictBatchRequest(
        items=[emotion_pb2.PredictRequest(audio=i.audio) for i in items]), timeout=10)
    assert all(not i.HasField("error") for i in normalised.items)
    assert list(normalised.items[0].posteriors.probs) != pytest.approx(list(plain.items[0].posteriors.probs), abs=1e-6)


def test_stream_predict_answers_each_request_in_order(served):
    _, stub = served
    garbage = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=b"nope" * 40))
    requests = [emotion_pb2.PredictRequest(audio=audio_payload(seed=1), request_id="1", speaker_group="c0",
                                           speaker_normalize=True),
                emotion_pb2.PredictRequest(audio=garbage, request_id="2"),
                emotion_pb2.PredictRequest(audio=audio_payload(seed=2), request_id="3", speaker_group="c0",
                                           speaker_normalize=True)]
    replies = list(stub.StreamPredict(iter(requests), timeout=20))
    assert [r.request_id for r in replies] == ["1", "2", "3"]
    assert replies[1].error.code and replies[0].posteriors.top_label and replies[2].posteriors.top_label


def test_models_report_readiness_and_health(served):
    server, stub = served
    [info] = stub.ListModels(emotion_pb2.ListModelsRequest(), timeout=10).models
    assert info.state == emotion_pb2.MODEL_STATE_READY and info.device == "cpu"
    assert tuple(info.input_shape) == (1, 32, 32) and info.feature_config.hash == INPUTS.hash()
    assert "default" in info.aliases and tuple(info.labels) == LABELS
    got = stub.GetModel(emotion_pb2.GetModelRequest(), timeout=10)
    assert got.ref.version == "1" and got.input_kind == emotion_pb2.INPUT_KIND_IMAGE
    ch = channel(f"127.0.0.1:{server.port}", settings())
    health = health_pb2_grpc.HealthStub(ch)
    for service in ("", "ser.v1.Emotion", "ser.v1.Emotion/default"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
    ch.close()


def test_full_queue_is_resource_exhausted_not_a_hang(tmp_path, monkeypatch):
    slow_forward = loaded_model._forward_fn

    def slow(model, device):
        run = slow_forward(model, device)

        def sleepy(*args):
            time.sleep(0.3)
            return run(*args)

        return sleepy

    monkeypatch.setattr(loaded_model, "_forward_fn", slow)
    publish_tiny(tmp_path)
    server = start(tmp_path, max_queue=1, max_batch_size=1, max_queue_delay_ms=0.0)
    ch, stub = stub_for(server)
    payload = audio_payload()

    def call(_: int) -> grpc.StatusCode:
        try:
            stub.Predict(emotion_pb2.PredictRequest(audio=payload), timeout=30)
            return grpc.StatusCode.OK
        except grpc.RpcError as exc:
            return exc.code()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(call, range(12)))
    elapsed = time.perf_counter() - started
    ch.close()
    server.stop(0)
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 6
    assert codes.count(grpc.StatusCode.OK) >= 1
    assert elapsed < 10, f"12 calls on a full queue took {elapsed:.1f} s"


def test_promoting_a_new_version_mid_traffic_drops_nothing(tmp_path):
    publish_tiny(tmp_path, seed=0)
    server = start(tmp_path)
    ch, stub = stub_for(server)
    payload = audio_payload()
    stop = threading.Event()
    versions: list[str] = []
    errors: list[BaseException] = []

    def client() -> None:
        while not stop.is_set():
            try:
                versions.append(stub.Predict(emotion_pb2.PredictRequest(audio=payload), timeout=20).model.version)
            except grpc.RpcError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        publish_tiny(tmp_path, seed=1, alias=None)
        ModelRegistry(tmp_path).promote("default", "2")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not versions or versions[-1] != "2"):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    loaded = sorted(server.servicer.manager.loaded())
    ch.close()
    server.stop(0)
    assert errors == []
    assert versions[0] == "1" and versions[-1] == "2", versions[-5:]
    assert loaded == [("default", "2")], "the old version is retired once nothing points at it"


def test_speaker_aware_model_uses_the_groups_embedding_so_far(tmp_path):
    from shared.analytics.speaker_track import SpeakerTrack
    from tests.contract.tiny_model import FakeEncoder, publish_speaker_tiny

    root = tmp_path / "registry"
    publish_speaker_tiny(root, tmp_path)
    encoder = FakeEncoder()
    server = serve(settings(), port=0, config=InferenceConfig(), registry=ModelRegistry(root), device="cpu",
                   encoder=encoder)
    ch, stub = stub_for(server)
    try:
        ref = common_pb2.ModelRef(name="speaker")
        info = stub.GetModel(emotion_pb2.GetModelRequest(model=ref), timeout=10)
        assert info.speaker_aware and info.speaker_dim == 128
        clips = [(0.1 * np.random.default_rng(s).standard_normal(8000 * (s + 1))).astype(np.float32) for s in range(3)]
        payloads = [source_to_audio_payload(c.tobytes(), RawPcmSpec(16000, 1, "pcm_f32le")) for c in clips]
        grouped = stub.PredictBatch(emotion_pb2.PredictBatchRequest(model=ref, items=[
            emotion_pb2.PredictRequest(audio=p, speaker_group="channel1") for p in payloads]), timeout=20)
        track = SpeakerTrack()
        so_far = [track.add(e, 1000 * len(c) / 16000) for e, c in zip(encoder.embed_batch(clips), clips, strict=True)]
        explicit = stub.PredictBatch(emotion_pb2.PredictBatchRequest(model=ref, items=[
            emotion_pb2.PredictRequest(audio=p, speaker_embedding=ndarray_to_tensor(e)) for p, e in zip(payloads, so_far, strict=True)
        ]), timeout=20)
        for got, want in zip(grouped.items, explicit.items, strict=True):
            assert list(got.posteriors.probs) == pytest.approx(list(want.posteriors.probs), abs=1e-5)
        alone = stub.Predict(emotion_pb2.PredictRequest(model=ref, audio=payloads[2]), timeout=20)
        assert list(alone.posteriors.probs) != pytest.approx(list(grouped.items[2].posteriors.probs), abs=1e-6)
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(emotion_pb2.PredictRequest(model=ref, audio=payloads[0],
                                                    speaker_embedding=ndarray_to_tensor(np.ones(7, np.float32))),
                         timeout=20)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        ch.close()
        server.stop(0)
