"""The gateway's bearer token: UNAUTHENTICATED without it on every RPC kind, health checks open."""
from __future__ import annotations

import dataclasses

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc

from services.common.client import channel
from services.common.security import BearerTokenInterceptor, mask_url
from services.gateway.server import serve as serve_gateway
from shared.errors import SpecError
from shared.settings import Settings
from tests.helpers import free_port

TOKEN = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def gateway():
    base = Settings.from_env(env={})
    dead = f"127.0.0.1:{free_port()}"  # downstream services are not needed to test authentication
    settings = dataclasses.replace(base, gateway_token=TOKEN, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                   addresses={**base.addresses, "preprocess": dead, "inference": dead})
    server = serve_gateway(settings, port=0)
    yield f"127.0.0.1:{server.port}", base
    server.stop(0)


def garbage_call() -> analysis_pb2.AnalyzeCallRequest:
    return analysis_pb2.AnalyzeCallRequest(audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=b"x")))


def code_of(fn) -> grpc.StatusCode:
    try:
        result = fn()
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def calls(ch: grpc.Channel):
    analysis, jobs = analysis_pb2_grpc.CallAnalysisStub(ch), jobs_pb2_grpc.JobsStub(ch)
    stream_req = [analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig())]
    return {
        "unary": lambda: jobs.ListJobs(jobs_pb2.ListJobsRequest(page_token="not-a-number"), timeout=10),
        "analysis": lambda: analysis.AnalyzeCall(garbage_call(), timeout=10),
        "bidi stream": lambda: analysis.AnalyzeStream(iter(stream_req), timeout=10),
        "server stream": lambda: jobs.WatchJob(jobs_pb2.WatchJobRequest(id="x"), timeout=10),
        "jobs": lambda: jobs.GetJob(jobs_pb2.GetJobRequest(id="x"), timeout=10),
        "reflection": lambda: reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10),
    }


def test_calls_without_a_token_are_unauthenticated_on_every_rpc_kind(gateway):
    address, settings = gateway
    with channel(address, settings) as ch:
        codes = {name: code_of(call) for name, call in calls(ch).items()}
    assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer ",
                                    TOKEN, f"Basic {TOKEN}"])
def test_a_wrong_or_malformed_token_is_unauthenticated(gateway, header):
    address, settings = gateway
    with channel(address, settings) as ch:
        code = code_of(lambda: analysis_pb2_grpc.CallAnalysisStub(ch).AnalyzeCall(
            garbage_call(), timeout=10, metadata=(("authorization", header),)))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_the_right_token_gets_through_on_every_rpc_kind(gateway):
    address, settings = gateway
    with channel(address, settings, token=TOKEN) as ch:
        codes = {name: code_of(call) for name, call in calls(ch).items()}
    assert grpc.StatusCode.UNAUTHENTICATED not in codes.values(), codes
    assert codes["reflection"] == grpc.StatusCode.OK
    assert codes["unary"] == grpc.StatusCode.INVALID_ARGUMENT  # past authentication, into the servicer
    assert codes["analysis"] == grpc.StatusCode.UNAVAILABLE  # past authentication, on to the (absent) downstream
    assert codes["jobs"] == grpc.StatusCode.UNAVAILABLE  # past authentication, on to the (absent) Redis


def test_health_checks_stay_open_without_a_token(gateway):
    address, settings = gateway
    with channel(address, settings) as ch:
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="ser.v1.CallAnalysis"),
                                                     timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_the_scheme_is_case_insensitive_and_an_empty_token_is_refused(gateway):
    address, settings = gateway
    with channel(address, settings) as ch:
        code = code_of(lambda: jobs_pb2_grpc.JobsStub(ch).ListJobs(jobs_pb2.ListJobsRequest(page_token="x"),
                                                                   timeout=10, metadata=(("authorization", f"bearer {TOKEN}"),)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(SpecError):
        BearerTokenInterceptor("")


def test_mask_url_hides_only_the_password():
    assert mask_url("redis://:hunter2@redis:6379/0") == "redis://:***@redis:6379/0"
    assert mask_url("redis://user:hunter2@10.0.0.1:6379/1") == "redis://user:***@10.0.0.1:6379/1"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert "hunter2" not in mask_url("rediss://:hunter2@[::1]:6380/2")
