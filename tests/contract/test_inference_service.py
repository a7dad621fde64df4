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
from tests.contract.tiny_model import INPUTS, LABELS, offline_posteriors, publish_tiny


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


def clip(seconds: float, seed: int, scale: float = 0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32)


def raw(x: np.ndarray) -> common_pb2.AudioPayload:
    return source_to_audio_payload(x.tobytes(), RawPcmSpec(16000, 1, "pcm_f32le"))


@pytest.fixture(scope="module")
def per_speaker(tmp_path_factory):
    """A model whose card says it was trained with per-speaker normalisation."""
    root = tmp_path_factory.mktemp("per-speaker")
    publish_tiny(root, normalization="per_speaker")
    server = start(root)
    ch, stub = stub_for(server)
    yield root, stub
    ch.close()
    server.stop(0)


def test_per_speaker_model_is_normalised_over_each_whole_group_as_in_training(per_speaker):
    root, stub = per_speaker
    groups = ["channel0", "channel1", "channel0", "channel1", "channel0"]
    clips = [clip(0.8 + 0.3 * s, seed=s, scale=0.005 if g == "channel0" else 0.5) for s, g in enumerate(groups)]
    want = offline_posteriors(root, "default", clips, groups)
    items = [emotion_pb2.PredictRequest(audio=raw(c), speaker_group=g) for c, g in zip(clips, groups, strict=True)]
    batch = stub.PredictBatch(emotion_pb2.PredictBatchRequest(items=items), timeout=20)
    grouped = list(stub.PredictGrouped(iter(items), timeout=20))
    for got_batch, got_grouped, expected in zip(batch.items, grouped, want, strict=True):
        assert list(got_batch.posteriors.probs) == pytest.approx(list(expected), abs=1e-4)
        assert list(got_grouped.posteriors.probs) == pytest.approx(list(expected), abs=1e-4)
    pooled = offline_posteriors(root, "default", clips, ["one"] * 5)  # grouping matters: pooling both channels differs
    assert max(abs(a - b) for x, y in zip(pooled, want, strict=True) for a, b in zip(x, y, strict=True)) > 1e-3


def test_grouped_call_is_chunked_without_changing_any_answer(per_speaker, monkeypatch):
    import services.inference.servicer as servicer

    root, stub = per_speaker
    clips = [clip(0.6, seed=10 + s, scale=0.03 * (1 + s % 4)) for s in range(9)]
    groups = [f"channel{s % 2}" for s in range(9)]
    want = offline_posteriors(root, "default", clips, groups)
    monkeypatch.setattr(servicer, "CHUNK_ITEMS", 2)  # 5 chunks; group statistics still span the whole call
    replies = list(stub.PredictGrouped(iter([emotion_pb2.PredictRequest(audio=raw(c), speaker_group=g, request_id=str(k))
                                             for k, (c, g) in enumerate(zip(clips, groups, strict=True))]), timeout=30))
    assert [r.request_id for r in replies] == [str(k) for k in range(9)]
    for got, expected in zip(replies, want, strict=True):
        assert list(got.posteriors.probs) == pytest.approx(list(expected), abs=1e-4)
    # One stream is one model version: a request naming another model gets its own error, in its place,
    # and changes nobody else's statistics.
    requests = [emotion_pb2.PredictRequest(audio=raw(c), speaker_group=g, request_id=str(k))
                for k, (c, g) in enumerate(zip(clips, groups, strict=True))]
    requests.insert(5, emotion_pb2.PredictRequest(model=common_pb2.ModelRef(name="other"), audio=raw(clips[0]),
                                                  speaker_group="channel0", request_id="other"))
    replies = list(stub.PredictGrouped(iter(requests), timeout=30))
    assert [r.request_id for r in replies] == [r.request_id for r in requests]
    assert replies[5].error.code == "invalid_input" and "one model" in replies[5].error.message
    for got, expected in zip(replies[:5] + replies[6:], want, strict=True):
        assert list(got.posteriors.probs) == pytest.approx(list(expected), abs=1e-4)


def test_stream_normalises_with_the_groups_statistics_so_far(per_speaker):
    root, stub = per_speaker
    clips = [clip(0.7, seed=20 + s, scale=0.02 + 0.08 * s) for s in range(3)]
    garbage = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=b"nope" * 40))
    requests = [emotion_pb2.PredictRequest(audio=raw(clips[0]), request_id="1", speaker_group="c0"),
                emotion_pb2.PredictRequest(audio=garbage, request_id="2", speaker_group="c0"),
                emotion_pb2.PredictRequest(audio=raw(clips[1]), request_id="3", speaker_group="c0"),
                emotion_pb2.PredictRequest(audio=raw(clips[2]), request_id="4", speaker_group="c0")]
    replies = list(stub.StreamPredict(iter(requests), timeout=20))
    assert [r.request_id for r in replies] == ["1", "2", "3", "4"] and replies[1].error.code
    for k, reply in zip(range(3), (replies[0], replies[2], replies[3]), strict=True):
        expected = offline_posteriors(root, "default", clips[: k + 1], ["c0"] * (k + 1))[k]
        assert list(reply.posteriors.probs) == pytest.approx(list(expected), abs=1e-4)


def test_speaker_normalize_cannot_turn_on_what_the_card_does_not_say(served):
    _, stub = served
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(emotion_pb2.PredictRequest(audio=audio_payload(), speaker_group="c0", speaker_normalize=True),
                     timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stub.Predict(emotion_pb2.PredictRequest(audio=audio_payload(), speaker_group="c0"), timeout=10).posteriors.top_label


def test_grouped_prediction_refuses_more_audio_than_the_limit(tmp_path):
    publish_tiny(tmp_path)
    server = serve(dataclasses.replace(settings(), max_audio_seconds=2), port=0, config=InferenceConfig(),
                   registry=ModelRegistry(tmp_path), device="cpu")
    ch, stub = stub_for(server)
    try:
        with pytest.raises(grpc.RpcError) as err:
            list(stub.PredictGrouped(iter([emotion_pb2.PredictRequest(audio=raw(clip(0.9, s))) for s in range(3)]),
                                     timeout=20))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "SER_MAX_AUDIO_SECONDS" in err.value.details()
        assert len(list(stub.PredictGrouped(iter([emotion_pb2.PredictRequest(audio=raw(clip(0.9, 1)))]), timeout=20))) == 1
    finally:
        ch.close()
        server.stop(0)


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


def test_speaker_aware_model_embeds_each_item_on_its_own_as_training_does(tmp_path):
    from tests.contract.tiny_model import FakeEncoder, publish_speaker_tiny

    root = tmp_path / "registry"
    publish_speaker_tiny(root, tmp_path, normalization="per_speaker")
    encoder = FakeEncoder()
    server = serve(settings(), port=0, config=InferenceConfig(), registry=ModelRegistry(root), device="cpu",
                   encoder=encoder)
    ch, stub = stub_for(server)
    try:
        ref = common_pb2.ModelRef(name="speaker")
        info = stub.GetModel(emotion_pb2.GetModelRequest(model=ref), timeout=10)
        assert info.speaker_aware and info.speaker_dim == 128
        clips = [clip(0.5 * (s + 1), seed=s, scale=0.05 * (s + 1)) for s in range(3)]
        want = offline_posteriors(root, "speaker", clips, ["channel1"] * 3, encoder=encoder)
        grouped = list(stub.PredictGrouped(iter([emotion_pb2.PredictRequest(model=ref, audio=raw(c), speaker_group="channel1")
                                                 for c in clips]), timeout=20))
        for got, expected in zip(grouped, want, strict=True):
            assert list(got.posteriors.probs) == pytest.approx(list(expected), abs=1e-4)
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(emotion_pb2.PredictRequest(model=ref, audio=raw(clips[0]),
                                                    speaker_embedding=ndarray_to_tensor(np.ones(7, np.float32))),
                         timeout=20)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        ch.close()
        server.stop(0)


def test_utterance_model_without_its_normalisation_statistics_is_refused_not_served(tmp_path):
    from shared.features.inputs import ModelInputConfig
    from shared.models.registry import build_model
    from shared.registry import ModelCard

    model = build_model("utterance_mlp_nospeaker", len(LABELS))  # never fitted: pool_n == 0
    card = ModelCard.describe(model, architecture="utterance_mlp_nospeaker", labels=LABELS,
                              feature_config=ModelInputConfig(kind="functionals").to_dict(), git_commit="test")
    ModelRegistry(tmp_path).publish(model, card, name="unfitted", alias="default")
    server = start(tmp_path)
    ch, stub = stub_for(server)
    try:
        ref = common_pb2.ModelRef(name="unfitted")
        info = stub.GetModel(emotion_pb2.GetModelRequest(model=ref), timeout=10)
        assert info.state == emotion_pb2.MODEL_STATE_FAILED and "normalisation statistics" in info.error.message
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(emotion_pb2.PredictRequest(model=ref, audio=raw(clip(1.0, 0))), timeout=20)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "normalisation statistics" in err.value.details()
    finally:
        ch.close()
        server.stop(0)
