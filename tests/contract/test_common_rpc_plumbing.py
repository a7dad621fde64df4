"""services.common over real gRPC: typed errors become statuses on unary and streaming RPCs, the
server survives every one of them, and the client's retry policy covers only idempotent calls.

A toy Jobs servicer stands in for a real one: the plumbing is what is under test.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from ser.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

from services.common.client import IDEMPOTENT_METHODS, channel, client_target, service_config, wait_healthy
from services.common.convert import (
    audio_payload_to_source,
    ndarray_to_tensor,
    pcm_format_to_spec,
    segment_from_proto,
    segment_to_proto,
    tensor_to_ndarray,
)
from services.common.logs import JsonFormatter
from services.common.server import bind_host, build_server, stop_server
from shared.audio.types import Segment
from shared.errors import ConfigMismatch, CorruptAudio, InvalidInput, NotFound, Overloaded, SpecError
from shared.settings import Settings

RAISES = {
    "bad": CorruptAudio("could not decode audio"),
    "spec": SpecError("spec field `model` is missing"),
    "missing": NotFound("job missing does not exist"),
    "busy": Overloaded("queue full (64 waiting)"),
    "mismatch": ConfigMismatch("feature config abc != def"),
    "bug": RuntimeError("secret internal detail /etc/passwd"),
}


class ToyJobs(jobs_pb2_grpc.JobsServicer):
    def GetJob(self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext) -> jobs_pb2.Job:
        if request.id in RAISES:
            raise RAISES[request.id]
        return jobs_pb2.Job(id=request.id, state=jobs_pb2.JOB_STATE_RUNNING)

    def WatchJob(self, request: jobs_pb2.WatchJobRequest, context: grpc.ServicerContext) -> Iterator[jobs_pb2.JobEvent]:
        yield jobs_pb2.JobEvent(job=jobs_pb2.Job(id=request.id, state=jobs_pb2.JOB_STATE_RUNNING))
        raise RAISES[request.id]


@pytest.fixture(scope="module")
def stub() -> Iterator[jobs_pb2_grpc.JobsStub]:
    settings = dataclasses.replace(Settings.from_env(env={}), grpc_workers=2)
    server, port, health = build_server(
        "gateway",
        settings,
        lambda s: jobs_pb2_grpc.add_JobsServicer_to_server(ToyJobs(), s),
        port=0,
        health_services=["ser.v1.Jobs"],
    )
    server.start()
    address = f"127.0.0.1:{port}"
    wait_healthy(address, 10, service="ser.v1.Jobs", settings=settings)
    with channel(address, settings) as ch:
        yield jobs_pb2_grpc.JobsStub(ch)
    stop_server(server, health, grace=0)


@pytest.mark.parametrize(
    ("job_id", "code"),
    [
        ("bad", grpc.StatusCode.INVALID_ARGUMENT),
        ("spec", grpc.StatusCode.INVALID_ARGUMENT),
        ("missing", grpc.StatusCode.NOT_FOUND),
        ("busy", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("mismatch", grpc.StatusCode.FAILED_PRECONDITION),
        ("bug", grpc.StatusCode.INTERNAL),
    ],
)
def test_errors_map_to_statuses_on_unary_and_stream(stub, job_id: str, code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=5)
    assert err.value.code() == code
    with pytest.raises(grpc.RpcError) as err_stream:
        events = []
        for event in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id), timeout=5):
            events.append(event)
    assert len(events) == 1 and err_stream.value.code() == code
    if code == grpc.StatusCode.INTERNAL:
        assert "secret" not in err.value.details() and err.value.details().startswith("internal error (ref ")
    else:
        assert err.value.details() == str(RAISES[job_id])
    assert stub.GetJob(jobs_pb2.GetJobRequest(id="ok"), timeout=5).state == jobs_pb2.JOB_STATE_RUNNING


def test_retry_config_names_only_existing_idempotent_methods() -> None:
    from ser.v1 import analysis_pb2, emotion_pb2, features_pb2, preprocess_pb2, speaker_pb2

    services = {}
    for module in (analysis_pb2, emotion_pb2, features_pb2, jobs_pb2, preprocess_pb2, speaker_pb2):
        for svc in module.DESCRIPTOR.services_by_name.values():
            services[svc.full_name] = {m.name for m in svc.methods}
    for service, methods in IDEMPOTENT_METHODS.items():
        if service.startswith("ser."):
            assert set(methods) <= services[service], service
    assert not {"SubmitTraining", "SubmitEvaluation", "SubmitFit", "SubmitBatchAnalysis"} & set(
        IDEMPOTENT_METHODS["ser.v1.Jobs"]
    )
    policy = json.loads(service_config())["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"] and policy["maxAttempts"] > 1
    assert json.loads(service_config())["loadBalancingConfig"] == [{"round_robin": {}}]


def test_replica_addresses_become_grpc_targets() -> None:
    assert client_target("inference:50054") == "inference:50054"
    assert client_target("dns:///inference:50054") == "dns:///inference:50054"  # a headless Service: every pod
    assert client_target("127.0.0.1:5001, localhost:5002") == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    with pytest.raises(ValueError, match="not host:port"):
        client_target("127.0.0.1:5001,127.0.0.1")


def test_tensor_round_trip_and_validation() -> None:
    for arr in (np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([1, -2], dtype=np.int64), np.zeros((0, 5), np.float16)):
        t = ndarray_to_tensor(arr)
        assert list(t.shape) == list(arr.shape) and len(t.data) == arr.nbytes
        back = tensor_to_ndarray(t)
        assert back.dtype == arr.dtype and np.array_equal(back, arr)
    big_endian = np.array([1.5, 2.5], dtype=">f4")
    assert ndarray_to_tensor(big_endian).data == np.array([1.5, 2.5], dtype="<f4").tobytes()
    with pytest.raises(InvalidInput, match="needs 12 bytes"):
        tensor_to_ndarray(common_pb2.Tensor(shape=[3], dtype=common_pb2.DTYPE_FLOAT32, data=b"\0" * 8))
    with pytest.raises(InvalidInput, match="unspecified"):
        tensor_to_ndarray(common_pb2.Tensor(shape=[1], data=b"\0" * 4))
    with pytest.raises(InvalidInput):
        ndarray_to_tensor(np.array(["text"]))


def test_payload_and_segment_conversion() -> None:
    fmt = common_pb2.PcmFormat(sample_rate_hz=8000, channels=2, encoding=common_pb2.PCM_ENCODING_ALAW)
    data, spec = audio_payload_to_source(common_pb2.AudioPayload(raw=common_pb2.RawPcm(format=fmt, data=b"ab")))
    assert data == b"ab" and (spec.sample_rate, spec.channels, spec.encoding) == (8000, 2, "alaw")
    assert pcm_format_to_spec(common_pb2.PcmFormat(sample_rate_hz=16000)).encoding == "pcm_s16le"
    with pytest.raises(InvalidInput, match="at most 8"):
        pcm_format_to_spec(common_pb2.PcmFormat(sample_rate_hz=16000, channels=9))
    with pytest.raises(InvalidInput, match="empty"):
        audio_payload_to_source(common_pb2.AudioPayload())
    seg = Segment(channel=1, start_ms=120, end_ms=980, speaker="customer")
    assert segment_from_proto(segment_to_proto(seg)) == seg
    with pytest.raises(InvalidInput):
        segment_from_proto(common_pb2.Segment(start_ms=50, end_ms=50))


def test_bind_host_and_json_logs() -> None:
    assert bind_host("127.0.0.1:50051") == "127.0.0.1"
    assert bind_host("localhost:50051") == "127.0.0.1"
    assert bind_host("preprocess:50051") == "0.0.0.0"
    assert bind_host("[::1]:50051") == "::1"
    record = logging.LogRecord("ser.rpc", logging.INFO, __file__, 1, "rpc %s", ("/x",), None)
    record.status, record.latency_ms = "OK", 1.5
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "rpc /x" and line["status"] == "OK" and line["latency_ms"] == 1.5
