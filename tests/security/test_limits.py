"""Size limits over real gRPC: the message limit (RESOURCE_EXHAUSTED) and the decoded-duration limit
(INVALID_ARGUMENT, ``audio_too_long``), on the gateway and on the preprocess service behind it."""
from __future__ import annotations

import dataclasses
import io
import time

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, preprocess_pb2, preprocess_pb2_grpc

from services.common.client import channel
from services.common.errors import ERROR_CODE_METADATA_KEY
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.preprocess.server import serve as serve_preprocess
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from shared.settings import Settings
from tests.contract.tiny_model import publish_tiny

MAX_MB, MAX_SECONDS = 1, 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = Settings.from_env(env={})
    limited = dataclasses.replace(base, max_message_bytes=MAX_MB * 1024 * 1024, max_audio_seconds=MAX_SECONDS)
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root)
    preprocess, port = serve_preprocess(limited, port=0)
    inference = serve_inference(limited, port=0, config=InferenceConfig(poll_s=5), registry=ModelRegistry(root),
                                device="cpu")
    gateway = serve_gateway(dataclasses.replace(limited, addresses={
        **base.addresses, "preprocess": f"127.0.0.1:{port}", "inference": f"127.0.0.1:{inference.port}"}), port=0)
    client = channel  # clients keep the default 64 MiB limits, so it is the servers that refuse
    with client(f"127.0.0.1:{gateway.port}", base) as g, client(f"127.0.0.1:{port}", base) as p:
        yield analysis_pb2_grpc.CallAnalysisStub(g), preprocess_pb2_grpc.PreprocessStub(p)
    gateway.stop(0)
    inference.stop(0)
    preprocess.stop(0)


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    noise = (0.05 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, noise, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def payload(data: bytes) -> common_pb2.AudioPayload:
    return common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data))


def error_code(err: grpc.RpcError) -> str:
    return dict(err.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY, "")


def test_a_message_over_the_limit_is_resource_exhausted_on_every_hop(stack):
    gateway, preprocess = stack
    big = wav_bytes(40.0)  # ~1.3 MB, over the 1 MiB message limit (and over the duration limit too)
    assert len(big) > MAX_MB * 1024 * 1024
    with pytest.raises(grpc.RpcError) as err:
        gateway.AnalyzeCall(analysis_pb2.AnalyzeCallRequest(audio=payload(big)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as err:
        preprocess.Prepare(preprocess_pb2.PrepareRequest(audio=payload(big)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_audio_longer_than_the_duration_limit_is_refused_after_a_header_read(stack):
    gateway, preprocess = stack
    call = sample_call_path().read_bytes()  # 14.6 s stereo, 0.9 MB: under the message limit, over 5 s
    assert len(call) < MAX_MB * 1024 * 1024
    # the gateway passes preprocess's status, message and stable error code through
    for rpc, request, code in ((gateway.AnalyzeCall, analysis_pb2.AnalyzeCallRequest(audio=payload(call)), "audio_too_long"),
                               (preprocess.Prepare, preprocess_pb2.PrepareRequest(audio=payload(call)), "audio_too_long")):
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as err:
            rpc(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_code(err.value) == code and "over the limit of 5.0 s" in err.value.details()
        assert time.perf_counter() - started < 2.0
    ok = preprocess.Prepare(preprocess_pb2.PrepareRequest(audio=payload(wav_bytes(MAX_SECONDS - 1))), timeout=30)
    assert ok.duration_s == pytest.approx(MAX_SECONDS - 1)


def test_a_stream_that_runs_past_the_duration_limit_is_cut_off(stack):
    gateway, _ = stack
    rate = 16000
    fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=1, encoding=common_pb2.PCM_ENCODING_S16LE)
    second = np.zeros(rate, dtype=np.int16).tobytes()

    def requests():
        yield analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig(format=fmt))
        for _ in range(int(MAX_SECONDS) + 3):
            yield analysis_pb2.AnalyzeStreamRequest(chunk=second)

    with pytest.raises(grpc.RpcError) as err:
        list(gateway.AnalyzeStream(requests(), timeout=30))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit" in err.value.details()
