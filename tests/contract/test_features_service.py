"""ser.v1.Features over real gRPC: an in-process server on an ephemeral port, a real client channel.

A tiny BOVW vocabulary (k=8) is fitted on synthetic voices and published in a temporary
artifacts folder, exactly as the fit job does, before the server starts.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ser.v1 import common_pb2, features_pb2, features_pb2_grpc

from services.common.client import channel
from services.common.convert import tensor_to_ndarray
from services.common.errors import ERROR_CODE_METADATA_KEY
from services.features.server import serve
from shared.features.artifacts import publish_vocabulary
from shared.features.bovw import fit_vocabulary, kaze_descriptors
from shared.features.config import PRESETS, LogMelConfig
from shared.features.image import ImageConfig, to_image_uint8
from shared.features.logmel import LogMelFrontEnd
from shared.settings import Settings
from tests.contract.voices import decoded, voice, wav_bytes

K = 8
VOICE = wav_bytes(voice(1.5, f0=130.0, seed=1))  # 24000 samples -> 151 frames at a 10 ms hop
STEREO = wav_bytes(np.stack([voice(2.0, f0=110.0, seed=2), voice(2.0, f0=210.0, formants=(400, 2000), seed=3)], axis=1))
GARBAGE = b"\x00garbage, not audio" * 100


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    logmel, image = PRESETS["vacnn"], ImageConfig(channels=1)
    frontend = LogMelFrontEnd(logmel, device="cpu")
    clips = [voice(1.5, f0=100 + 25 * i, formants=(500 + 80 * i, 1000 + 150 * i), seed=i) for i in range(5)]
    descriptors = [kaze_descriptors(to_image_uint8(m, image)) for m in frontend.compute_many(clips)]
    vocabulary = fit_vocabulary(descriptors, k=K, corpora=["synthetic"], feature_config_hash=logmel.hash(),
                                image_config_hash=image.hash())
    publish_vocabulary(root, "tiny", vocabulary, logmel, image, {"sources": ["synthetic"]})
    return root


@pytest.fixture(scope="module")
def chan(artifacts: Path) -> Iterator[grpc.Channel]:
    settings = dataclasses.replace(Settings.from_env(env={}), artifacts_dir=artifacts, grpc_workers=4)
    server, port = serve(settings, port=0)
    with channel(f"127.0.0.1:{port}", settings) as ch:
        yield ch
    server.stop(0).wait()


@pytest.fixture(scope="module")
def stub(chan: grpc.Channel) -> features_pb2_grpc.FeaturesStub:
    return features_pb2_grpc.FeaturesStub(chan)


def _input(data: bytes = VOICE, segments: tuple[common_pb2.Segment, ...] = (), id: str = "x") -> features_pb2.FeatureInput:
    return features_pb2.FeatureInput(
        audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data)), segments=list(segments), id=id
    )


def _array(item) -> np.ndarray:
    assert not item.HasField("error"), item.error
    return tensor_to_ndarray(item.tensor)


def _code(err: pytest.ExceptionInfo) -> str:
    return dict(err.value.trailing_metadata()).get(ERROR_CODE_METADATA_KEY, "")


def test_log_mel_shape_and_values_match_the_library_front_end(stub) -> None:
    reply = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input()), timeout=30)
    mel = _array(reply.items[0])
    assert mel.shape == (128, 151) and mel.dtype == np.float32
    assert reply.items[0].id == "x" and not reply.items[0].HasField("segment")
    assert reply.config.hash == LogMelConfig().hash()
    assert LogMelConfig.from_dict(json.loads(reply.config.json)) == LogMelConfig()
    expected = LogMelFrontEnd(LogMelConfig(), device="cpu").compute_many([decoded(VOICE)])[0]
    np.testing.assert_allclose(mel, expected, atol=1e-4)  # training and serving compute the same numbers


def test_log_mel_presets_deltas_and_windows(stub) -> None:
    parry = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(
        input=_input(), config=common_pb2.FeatureConfigRef(preset="parry")), timeout=30)
    assert _array(parry.items[0]).shape == (40, 151) and parry.config.preset == "parry"
    assert parry.config.hash == PRESETS["parry"].hash()
    deltas = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input(), deltas=True), timeout=30)
    assert _array(deltas.items[0]).shape == (3 * 128, 151)
    windows = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input(), window_frames=100), timeout=30)
    win = _array(windows.items[0])
    assert win.shape == (2, 128, 100)  # frames 0..99 and, aligned to the end, 51..150
    full = _array(stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input()), timeout=30).items[0])
    np.testing.assert_allclose(win[1], full[:, 51:], atol=1e-4)
    short = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(
        input=_input(wav_bytes(voice(0.5, seed=4))), window_frames=100), timeout=30)
    assert _array(short.items[0]).shape == (1, 128, 100)  # padded with silence, not stretched


def test_segments_give_one_item_each_and_bad_segments_give_item_errors(stub) -> None:
    segments = (
        common_pb2.Segment(channel=0, start_ms=0, end_ms=1000, speaker="agent"),
        common_pb2.Segment(channel=1, start_ms=500, end_ms=2000, speaker="customer"),
        common_pb2.Segment(channel=1, start_ms=100, end_ms=150),  # 50 ms < SER_MIN_AUDIO_MS
        common_pb2.Segment(channel=5, start_ms=0, end_ms=1000),  # no such channel
    )
    reply = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input(STEREO, segments)), timeout=30)
    assert len(reply.items) == 4
    assert _array(reply.items[0]).shape == (128, 101) and reply.items[0].segment.speaker == "agent"
    assert _array(reply.items[1]).shape == (128, 151) and reply.items[1].segment.channel == 1
    assert reply.items[2].error.code == "audio_too_short"
    assert reply.items[3].error.code == "invalid_input" and "channel 5" in reply.items[3].error.message


def test_image_is_channels_by_224_by_224(stub) -> None:
    reply = stub.ExtractImage(features_pb2.ExtractImageRequest(input=_input()), timeout=30)
    img = _array(reply.items[0])
    assert img.shape == (3, 224, 224) and 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.5
    again = _array(stub.ExtractImage(features_pb2.ExtractImageRequest(input=_input()), timeout=30).items[0])
    assert np.array_equal(img, again)  # deterministic
    grey = stub.ExtractImage(features_pb2.ExtractImageRequest(
        input=_input(), image=features_pb2.ImageOptions(channels=1, height=64, width=64)), timeout=30)
    assert _array(grey.items[0]).shape == (1, 64, 64)
    normed = stub.ExtractImage(features_pb2.ExtractImageRequest(
        input=_input(), image=features_pb2.ImageOptions(imagenet_normalize=True)), timeout=30)
    assert _array(normed.items[0]).min() < 0.0
    with pytest.raises(grpc.RpcError) as err:
        stub.ExtractImage(features_pb2.ExtractImageRequest(
            input=_input(), image=features_pb2.ImageOptions(height=224, width=100)), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_egemaps_gives_88_named_functionals(stub) -> None:
    reply = stub.ExtractEgemaps(features_pb2.ExtractEgemapsRequest(input=_input()), timeout=60)
    values = _array(reply.items[0])
    assert values.shape == (88,) and np.isfinite(values).all()
    assert len(reply.feature_names) == 88 and reply.feature_names[0].startswith("F0semitone")


def test_bovw_histogram_has_k_bins_and_sums_to_one(stub) -> None:
    request = features_pb2.ExtractBovwRequest(input=_input(), vocabulary=common_pb2.ModelRef(name="tiny"))
    reply = stub.ExtractBovw(request, timeout=30)
    hist = _array(reply.items[0])
    assert hist.shape == (K,) and hist.sum() == pytest.approx(1.0, abs=1e-5) and (hist >= 0).all()
    assert reply.items[0].keypoints > 10
    assert (reply.vocabulary.name, reply.vocabulary.version) == ("tiny", "1")
    assert reply.config.hash == PRESETS["vacnn"].hash()  # the vocabulary's own config, unasked
    silence = stub.ExtractBovw(features_pb2.ExtractBovwRequest(
        input=_input(wav_bytes(np.zeros(16000, np.float32))), vocabulary=common_pb2.ModelRef(name="tiny")), timeout=30)
    assert silence.items[0].keypoints == 0 and not _array(silence.items[0]).any()


def test_unknown_vocabulary_or_preset_is_not_found_and_a_mismatch_is_failed_precondition(stub) -> None:
    for request in (
        features_pb2.ExtractBovwRequest(input=_input(), vocabulary=common_pb2.ModelRef(name="nope")),
        features_pb2.ExtractBovwRequest(input=_input(), vocabulary=common_pb2.ModelRef(name="tiny", version="7")),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.ExtractBovw(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND, err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(
            input=_input(), config=common_pb2.FeatureConfigRef(preset="nope")), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "parry" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.ExtractBovw(features_pb2.ExtractBovwRequest(
            input=_input(), vocabulary=common_pb2.ModelRef(name="tiny"),
            config=common_pb2.FeatureConfigRef(preset="parry")), timeout=30)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_garbage_is_invalid_argument_and_server_keeps_serving(stub) -> None:
    for call, request in (
        (stub.ExtractLogMel, features_pb2.ExtractLogMelRequest(input=_input(GARBAGE))),
        (stub.ExtractImage, features_pb2.ExtractImageRequest(input=_input(GARBAGE))),
        (stub.ExtractEgemaps, features_pb2.ExtractEgemapsRequest(input=_input(GARBAGE))),
        (stub.ExtractLogMel, features_pb2.ExtractLogMelRequest()),
        (stub.ExtractLogMel, features_pb2.ExtractLogMelRequest(
            input=_input(), config=common_pb2.FeatureConfigRef(json='{"n_mels": "many"}'))),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call(request, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input(GARBAGE)), timeout=30)
    assert _code(err) == "corrupt_audio"
    assert _array(stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input()), timeout=30).items[0]).size


def test_batch_extract_computes_every_kind_and_isolates_a_bad_input(stub) -> None:
    segments = (common_pb2.Segment(channel=0, start_ms=0, end_ms=1000), common_pb2.Segment(channel=1, start_ms=0, end_ms=1500))
    request = features_pb2.BatchExtractRequest(
        inputs=[_input(VOICE, id="a"), _input(GARBAGE, id="bad"), _input(STEREO, segments, id="c")],
        kinds=[features_pb2.FEATURE_KIND_LOG_MEL, features_pb2.FEATURE_KIND_IMAGE,
               features_pb2.FEATURE_KIND_BOVW, features_pb2.FEATURE_KIND_EGEMAPS],
        vocabulary=common_pb2.ModelRef(name="tiny"),
    )
    reply = stub.BatchExtract(request, timeout=60)
    assert [i.id for i in reply.items] == ["a", "bad", "c", "c"]
    assert reply.items[1].error.code == "corrupt_audio" and not reply.items[1].tensors
    shapes = {k: tuple(v.shape) for k, v in reply.items[3].tensors.items()}
    assert shapes == {"log_mel": (128, 151), "image": (3, 224, 224), "bovw": (K,), "egemaps": (88,)}
    assert reply.vocabulary.version == "1" and len(reply.feature_names) == 88
    single = _array(stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(input=_input()), timeout=30).items[0])
    np.testing.assert_allclose(tensor_to_ndarray(reply.items[0].tensors["log_mel"]), single, atol=1e-4)
    for kind in ([], [features_pb2.FEATURE_KIND_UNSPECIFIED]):
        with pytest.raises(grpc.RpcError) as err:
            stub.BatchExtract(features_pb2.BatchExtractRequest(inputs=[_input()], kinds=kind), timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_batch_over_1024_items_is_refused(stub) -> None:
    many = tuple(common_pb2.Segment(channel=0, start_ms=i, end_ms=i + 200) for i in range(1025))
    with pytest.raises(grpc.RpcError) as err:
        stub.BatchExtract(features_pb2.BatchExtractRequest(
            inputs=[_input(segments=many)], kinds=[features_pb2.FEATURE_KIND_LOG_MEL]), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "1024" in err.value.details()


def test_health_and_reflection(chan) -> None:
    ch = chan
    health = health_pb2_grpc.HealthStub(ch)
    for service in ("", "ser.v1.Features"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(ch)
    replies = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    assert "ser.v1.Features" in {s.name for r in replies for s in r.list_services_response.service}
