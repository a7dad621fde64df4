"""ser.v1.Speaker over real gRPC: an in-process server on an ephemeral port, a real client channel.

The encoder is the real GE2E from the resemblyzer wheel; a small PCA projection (width 4) is
fitted on synthetic voices and published in a temporary artifacts folder before the server starts.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ser.v1 import common_pb2, speaker_pb2, speaker_pb2_grpc

from services.common.client import channel
from services.common.convert import tensor_to_ndarray
from services.speaker.server import serve
from shared.features.artifacts import publish_speaker_pca
from shared.settings import Settings
from shared.speaker.encoder import Ge2eEncoder
from shared.speaker.pca import SpeakerPca
from tests.contract.voices import decoded, voice, wav_bytes

WIDTH = 4
LOW = voice(2.0, f0=105.0, formants=(650, 1100), seed=1)
HIGH = voice(2.0, f0=230.0, formants=(420, 2300), seed=2)
VOICE = wav_bytes(LOW)
STEREO = wav_bytes(np.stack([LOW, HIGH], axis=1))
GARBAGE = b"\x00garbage, not audio" * 100


@pytest.fixture(scope="module")
def encoder() -> Ge2eEncoder:
    return Ge2eEncoder(device="cpu")


@pytest.fixture(scope="module")
def pca(encoder: Ge2eEncoder, tmp_path_factory) -> tuple[Path, SpeakerPca]:
    root = tmp_path_factory.mktemp("artifacts")
    clips = [voice(1.2, f0=90 + 30 * i, formants=(500 + 60 * i, 1000 + 200 * i), seed=i) for i in range(8)]
    projection = SpeakerPca.fit(encoder.embed_batch(clips), width=WIDTH, corpora=["synthetic"], encoder=encoder.name)
    publish_speaker_pca(root, "tiny", projection, {"sources": ["synthetic"]})
    return root, projection


@pytest.fixture(scope="module")
def chan(pca, encoder: Ge2eEncoder) -> Iterator[grpc.Channel]:
    settings = dataclasses.replace(Settings.from_env(env={}), artifacts_dir=pca[0], grpc_workers=4)
    server, port = serve(settings, port=0, encoder=encoder)
    with channel(f"127.0.0.1:{port}", settings) as ch:
        yield ch
    server.stop(0).wait()


@pytest.fixture(scope="module")
def stub(chan: grpc.Channel) -> speaker_pb2_grpc.SpeakerStub:
    return speaker_pb2_grpc.SpeakerStub(chan)


def _request(data: bytes = VOICE, segments: tuple[common_pb2.Segment, ...] = (), **kwargs) -> speaker_pb2.EmbedRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data))
    return speaker_pb2.EmbedRequest(audio=audio, segments=list(segments), **kwargs)


def _vector(embedding) -> np.ndarray:
    assert not embedding.HasField("error"), embedding.error
    return tensor_to_ndarray(embedding.vector)


def test_embed_whole_recording_is_the_library_embedding(stub, encoder) -> None:
    reply = stub.Embed(_request(id="r1"), timeout=60)
    assert reply.id == "r1" and reply.dim == 256 and reply.encoder.name == encoder.name
    assert not reply.HasField("projection") and len(reply.embeddings) == 1
    vector = _vector(reply.embeddings[0])
    assert vector.shape == (256,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert reply.embeddings[0].speech_ms == pytest.approx(2000.0)
    np.testing.assert_allclose(vector, encoder.embed(decoded(VOICE)), atol=1e-5)


def test_segments_and_channels(stub) -> None:
    segments = (
        common_pb2.Segment(channel=0, start_ms=0, end_ms=900, speaker="agent"),
        common_pb2.Segment(channel=1, start_ms=0, end_ms=900, speaker="customer"),
        common_pb2.Segment(channel=0, start_ms=1000, end_ms=1900, speaker="agent"),
        common_pb2.Segment(channel=0, start_ms=10, end_ms=40),  # too short: an item error
    )
    per_segment = stub.Embed(_request(STEREO, segments), timeout=60)
    vectors = [_vector(e) for e in per_segment.embeddings[:3]]
    assert [e.segment.speaker for e in per_segment.embeddings[:3]] == ["agent", "customer", "agent"]
    assert per_segment.embeddings[3].error.code == "audio_too_short"
    same, different = float(vectors[0] @ vectors[2]), float(vectors[0] @ vectors[1])
    assert same > different  # one voice twice is closer than two voices
    per_channel = stub.Embed(_request(STEREO, segments[:3], mode=speaker_pb2.EMBED_MODE_PER_CHANNEL), timeout=60)
    assert [e.channel for e in per_channel.embeddings] == [0, 1]
    assert [e.speech_ms for e in per_channel.embeddings] == [pytest.approx(1800.0), pytest.approx(900.0)]


def test_projection_gives_the_pca_width(stub, pca) -> None:
    plain = _vector(stub.Embed(_request(), timeout=60).embeddings[0])
    reply = stub.Embed(_request(projection=common_pb2.ModelRef(name="tiny")), timeout=60)
    assert reply.dim == WIDTH and (reply.projection.name, reply.projection.version) == ("tiny", "1")
    projected = _vector(reply.embeddings[0])
    assert projected.shape == (WIDTH,)
    np.testing.assert_allclose(projected, pca[1].transform(plain), atol=1e-4)


def test_unknown_projection_or_encoder_is_not_found(stub) -> None:
    for request in (
        _request(projection=common_pb2.ModelRef(name="nope")),
        _request(projection=common_pb2.ModelRef(name="tiny", version="9")),
        _request(encoder=common_pb2.ModelRef(name="vggvox")),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.Embed(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND, err.value.details()


def test_garbage_is_invalid_argument_and_server_keeps_serving(stub) -> None:
    for request in (_request(GARBAGE), speaker_pb2.EmbedRequest(), _request(mode=7)):
        with pytest.raises(grpc.RpcError) as err:
            stub.Embed(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _vector(stub.Embed(_request(), timeout=60).embeddings[0]).shape == (256,)


def test_embed_batch_matches_single_calls_and_isolates_a_bad_item(stub) -> None:
    batch = stub.EmbedBatch(speaker_pb2.EmbedBatchRequest(items=[
        _request(id="a"), _request(GARBAGE, id="bad"), _request(wav_bytes(HIGH), id="c", projection=common_pb2.ModelRef(name="tiny")),
    ]), timeout=60)
    assert [r.id for r in batch.items] == ["a", "bad", "c"]
    assert batch.items[1].embeddings[0].error.code == "corrupt_audio"
    assert batch.items[2].dim == WIDTH and _vector(batch.items[2].embeddings[0]).shape == (WIDTH,)
    single = _vector(stub.Embed(_request(), timeout=60).embeddings[0])
    np.testing.assert_allclose(_vector(batch.items[0].embeddings[0]), single, atol=1e-5)


def test_more_than_1024_embeddings_are_refused(stub) -> None:
    many = tuple(common_pb2.Segment(channel=0, start_ms=i, end_ms=i + 200) for i in range(1025))
    with pytest.raises(grpc.RpcError) as err:
        stub.Embed(_request(segments=many), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "1024" in err.value.details()


def test_health_reports_serving(chan) -> None:
    health = health_pb2_grpc.HealthStub(chan)
    for service in ("", "ser.v1.Speaker"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
