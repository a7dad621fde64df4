"""Issue 18, finding 2: the gateway cannot be starved by long-lived RPCs.

Six WatchJob streams on a running job (SER_GRPC_WORKERS=4), or five idle AnalyzeUpload streams, used to take
every server thread: health checks and short calls queued behind them. Now each streaming method has a cap
(RESOURCE_EXHAUSTED beyond it, at once), the caps bring their own threads, a request stream idle for
SER_STREAM_IDLE_S is ended DEADLINE_EXCEEDED, a newcomer ends an upload that has sent nothing for a while when
all slots are taken, and a watch ends after SER_WATCH_MAX_S. The job store is a stand-in for a silent running
job (no Redis needed); the downstream services are not needed either.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ser.v1 import analysis_pb2_grpc, jobs_pb2, jobs_pb2_grpc

from services.common.client import channel
from services.common.limits import OTHER_STREAMS, OTHER_STREAMS_LIMIT
from services.gateway.server import CALL_ANALYSIS, JOBS, rpc_limits
from services.gateway.server import serve as serve_gateway
from services.jobs.store import Job, JobState
from shared.settings import Settings

QUICK_S = 1.0  # what "at once" means on a busy 2-core CI box


class SilentJobs:
    """A JobClient stand-in: one running job that never changes (the store's heartbeat every 0.2 s)."""

    def __init__(self) -> None:
        self.job = Job(id="job-1", kind="analyze_batch", spec={}, state=JobState.RUNNING, message="busy")

    def get(self, job_id: str) -> Job:
        return self.job

    def watch(self, job_id: str, timeout_s: float | None = None, *, heartbeat: bool = False) -> Iterator[dict]:
        end = time.monotonic() + (timeout_s if timeout_s is not None else 3600)
        while time.monotonic() < end:
            time.sleep(0.2)
            yield {}


def settings(**changes) -> Settings:
    base = dataclasses.replace(Settings.from_env(env={}), grpc_workers=2, gateway_max_watches=3,
                               gateway_max_uploads=2, gateway_max_streams=1, stream_idle_s=30.0)
    return dataclasses.replace(base, **changes)


@pytest.fixture()
def gateway(request):
    config = settings(**getattr(request, "param", {}))
    server = serve_gateway(config, port=0, jobs=lambda: SilentJobs())
    ch = channel(f"127.0.0.1:{server.port}", config)
    yield server, ch
    ch.close()
    server.stop(0)


class Idle:
    """A request stream that sends nothing until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self) -> Iterator:
        self.release.wait(60)
        return
        yield


def timed(fn):
    started = time.monotonic()
    value = fn()
    return value, time.monotonic() - started


def assert_short_calls_answer(ch: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(ch)
    reply, took = timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING and took < QUICK_S, took
    job, took = timed(lambda: jobs_pb2_grpc.JobsStub(ch).GetJob(jobs_pb2.GetJobRequest(id="job-1"), timeout=5))
    assert job.id == "job-1" and took < QUICK_S, took


def test_watches_and_uploads_beyond_their_caps_are_refused_at_once_and_short_calls_still_answer(gateway):
    server, ch = gateway
    jobs, calls = jobs_pb2_grpc.JobsStub(ch), analysis_pb2_grpc.CallAnalysisStub(ch)
    idle = Idle()
    uploads: list[grpc.Future] = []
    watches = [jobs.WatchJob(jobs_pb2.WatchJobRequest(id="job-1"), timeout=30) for _ in range(3)]
    try:
        for call in watches:  # three held open: more than SER_GRPC_WORKERS=2 threads
            assert next(call).job.id == "job-1"
        uploads += [calls.AnalyzeUpload.future(idle(), timeout=30) for _ in range(2)]
        deadline = time.monotonic() + 5
        while server.limits.in_use("uploads") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.limits.in_use("event streams") == 3 and server.limits.in_use("uploads") == 2
        assert_short_calls_answer(ch)

        with pytest.raises(grpc.RpcError) as refused:
            next(jobs.WatchJob(jobs_pb2.WatchJobRequest(id="job-1"), timeout=5))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at most 3 (SER_GATEWAY_MAX_WATCHES)" in refused.value.details()
        assert ("ser-error-code", "overloaded") in refused.value.trailing_metadata()
        (upload, took) = timed(lambda: calls.AnalyzeUpload.future(idle(), timeout=5).exception())
        assert upload.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and took < QUICK_S, (upload, took)
        assert "at most 2 (SER_GATEWAY_MAX_UPLOADS)" in upload.details()
        assert_short_calls_answer(ch)
    finally:
        idle.release.set()
        for call in watches:
            call.cancel()
    for upload in uploads:  # released without a config: the handler answers as it always did
        assert upload.exception(timeout=5).code() == grpc.StatusCode.INVALID_ARGUMENT
    deadline = time.monotonic() + 5  # the slots come back once their clients leave
    while (server.limits.in_use("event streams") or server.limits.in_use("uploads")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.limits.in_use("event streams") == 0 and server.limits.in_use("uploads") == 0


@pytest.mark.parametrize("gateway", [dict(stream_idle_s=1.0)], indirect=True)
def test_a_request_stream_that_sends_nothing_is_ended_after_SER_STREAM_IDLE_S(gateway):
    server, ch = gateway
    calls = analysis_pb2_grpc.CallAnalysisStub(ch)
    idle = Idle()
    try:
        for name, call in (("AnalyzeUpload", lambda: calls.AnalyzeUpload(idle(), timeout=20)),
                           ("AnalyzeStream", lambda: list(calls.AnalyzeStream(idle(), timeout=20)))):
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as ended:
                call()
            assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (name, ended.value)
            assert "sent nothing for 1 s (SER_STREAM_IDLE_S)" in ended.value.details()
            assert time.monotonic() - started < 4.0, name
    finally:
        idle.release.set()
    assert server.limits.in_use("uploads") == 0 and server.limits.in_use("live streams") == 0


@pytest.mark.parametrize("gateway", [dict(gateway_max_uploads=1)], indirect=True)
def test_when_every_upload_slot_is_taken_a_newcomer_ends_the_idlest(gateway):
    server, ch = gateway
    calls = analysis_pb2_grpc.CallAnalysisStub(ch)
    idle = Idle()
    try:
        first = calls.AnalyzeUpload.future(idle(), timeout=30)
        time.sleep(2.5)  # idle past EVICT_AFTER_S
        second = calls.AnalyzeUpload.future(idle(), timeout=30)
        ended = first.exception(timeout=5)
        assert ended.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "ended to make room" in ended.details()
        assert "SER_GATEWAY_MAX_UPLOADS" in ended.details()
        time.sleep(0.3)
        assert not second.done() and server.limits.in_use("uploads") == 1
        third = calls.AnalyzeUpload.future(idle(), timeout=30).exception(timeout=5)  # the holder is not idle long
        assert third.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "try again later" in third.details()
        assert not second.done()
    finally:
        idle.release.set()


def test_every_streaming_method_is_in_a_group_and_the_rest_share_a_small_cap(gateway):
    server, ch = gateway
    config = settings()
    limits = rpc_limits(config)
    named = {m for g in limits.groups() for m in g.methods}
    assert named == {f"/{JOBS}/WatchJob", f"/{CALL_ANALYSIS}/AnalyzeUpload", f"/{CALL_ANALYSIS}/AnalyzeStream"}
    assert limits.threads == 3 + 2 + 1 + OTHER_STREAMS_LIMIT
    health = health_pb2_grpc.HealthStub(ch)
    watchers = [health.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(OTHER_STREAMS_LIMIT)]
    try:
        for w in watchers:
            assert next(w).status == health_pb2.HealthCheckResponse.SERVING
        assert server.limits.in_use(OTHER_STREAMS) == OTHER_STREAMS_LIMIT
        with pytest.raises(grpc.RpcError) as refused:
            next(health.Watch(health_pb2.HealthCheckRequest(), timeout=5))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert_short_calls_answer(ch)
    finally:
        for w in watchers:
            w.cancel()


@pytest.mark.parametrize("gateway", [dict(watch_max_s=1.0)], indirect=True)
def test_a_watch_ends_without_a_final_event_after_SER_WATCH_MAX_S(gateway):
    _server, ch = gateway
    events, took = timed(lambda: list(jobs_pb2_grpc.JobsStub(ch).WatchJob(jobs_pb2.WatchJobRequest(id="job-1"),
                                                                          timeout=20)))
    assert [e.final for e in events] == [False] and took < 5.0, (events, took)


def test_the_limits_come_from_the_environment():
    env = {"SER_GATEWAY_MAX_WATCHES": "5", "SER_GATEWAY_MAX_UPLOADS": "6", "SER_GATEWAY_MAX_STREAMS": "7",
           "SER_STREAM_IDLE_S": "12.5", "SER_WATCH_MAX_S": "60", "SER_GRPC_WORKERS": "4"}
    s = Settings.from_env(env=env)
    assert (s.gateway_max_watches, s.gateway_max_uploads, s.gateway_max_streams) == (5, 6, 7)
    assert (s.stream_idle_s, s.watch_max_s) == (12.5, 60.0)
    assert rpc_limits(s).threads == 5 + 6 + 7 + OTHER_STREAMS_LIMIT
    d = Settings.from_env(env={})
    assert (d.gateway_max_watches, d.gateway_max_uploads, d.gateway_max_streams, d.stream_idle_s, d.watch_max_s) == (
        32, 16, 16, 30.0, 900.0)
    assert Settings.from_env(env={"SER_GATEWAY_MAX_UPLOADS": "0"}).gateway_max_uploads == 1
