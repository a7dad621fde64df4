"""The gateway's whole-call path sends each segment to inference as soon as preprocess closes it. Two faults
of that one PredictGrouped stream, through a proxy in front of a real inference service: a replica that dies
mid-call (UNAVAILABLE) is replayed whole from the spool after the VAD and gives exactly the undisturbed
answers; a refusal (INVALID_ARGUMENT) ends the call with that status, and the gateway still serves."""
from __future__ import annotations

import dataclasses
from concurrent import futures

import grpc
import numpy as np
import pytest
from ser.v1 import analysis_pb2_grpc, emotion_pb2_grpc

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from tests.contract.test_gateway_service import base_settings, call_request, serve_stack
from tests.contract.tiny_model import publish_tiny


class FlakyInference(emotion_pb2_grpc.EmotionServicer):
    """Forwards to a real inference service; the first PredictGrouped of each ``arm`` fails after one segment."""

    def __init__(self, target: emotion_pb2_grpc.EmotionStub) -> None:
        self.target = target
        self.fail_with: grpc.StatusCode | None = None
        self.grouped_calls = 0

    def GetModel(self, request, context):
        return self.target.GetModel(request, timeout=30)

    def PredictGrouped(self, request_iterator, context):
        self.grouped_calls += 1
        if self.fail_with is not None:
            code, self.fail_with = self.fail_with, None
            next(request_iterator)
            context.abort(code, "replica gone" if code == grpc.StatusCode.UNAVAILABLE else "refused")
        yield from self.target.PredictGrouped(iter(list(request_iterator)), timeout=60)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root)
    with serve_stack(base_settings(), root) as (direct, settings):
        inference = channel(settings.address("inference"), settings)
        flaky = FlakyInference(emotion_pb2_grpc.EmotionStub(inference))
        proxy = grpc.server(futures.ThreadPoolExecutor(8))
        emotion_pb2_grpc.add_EmotionServicer_to_server(flaky, proxy)
        port = proxy.add_insecure_port("127.0.0.1:0")
        proxy.start()
        gateway = serve_gateway(dataclasses.replace(settings, addresses={**settings.addresses,
                                                                          "inference": f"127.0.0.1:{port}"}), port=0)
        ch = channel(f"127.0.0.1:{gateway.port}", settings)
        try:
            yield direct, analysis_pb2_grpc.CallAnalysisStub(ch), flaky
        finally:
            ch.close()
            gateway.stop(0)
            proxy.stop(0)
            inference.close()


def _probs(reply) -> np.ndarray:
    return np.array([list(e.emotion.probs) for e in reply.timeline])


def test_a_replica_dying_mid_call_is_replayed_whole_with_the_same_answers(proxied):
    direct, through_proxy, flaky = proxied
    want = direct.AnalyzeCall(call_request(), timeout=120)
    flaky.fail_with, flaky.grouped_calls = grpc.StatusCode.UNAVAILABLE, 0
    got = through_proxy.AnalyzeCall(call_request(), timeout=120)
    assert flaky.grouped_calls == 2  # the failed stream, then its replay
    assert [(e.segment.channel, e.segment.start_ms) for e in got.timeline] == \
           [(e.segment.channel, e.segment.start_ms) for e in want.timeline]
    np.testing.assert_allclose(_probs(got), _probs(want), atol=1e-6)


def test_a_refused_segment_stream_fails_the_call_and_the_gateway_still_serves(proxied):
    _, through_proxy, flaky = proxied
    flaky.fail_with, flaky.grouped_calls = grpc.StatusCode.INVALID_ARGUMENT, 0
    with pytest.raises(grpc.RpcError) as err:
        through_proxy.AnalyzeCall(call_request(), timeout=120)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "refused" in err.value.details()
    assert flaky.grouped_calls == 1
    assert len(through_proxy.AnalyzeCall(call_request(), timeout=120).timeline) > 0
