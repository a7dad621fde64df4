"""The HTTP API's one channel to the gateway (its token, TLS and limits, as every client's) and the calls it makes."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ser.v1 import analysis_pb2, analysis_pb2_grpc, jobs_pb2, jobs_pb2_grpc

from services.common.client import aio_channel, channel
from services.common.security import bearer_metadata
from services.http.problems import from_rpc_error
from services.jobs.analyze_client import analyze_path
from services.jobs.job_proto import proto_json
from shared.settings import Settings

ANALYZE_TIMEOUT_S = 3600.0  # as `ser analyze`: an hour-long call on a busy CPU box takes minutes
RPC_TIMEOUT_S = 30.0
WATCH_SLACK_S = 5.0  # the gateway ends a watch at SER_WATCH_MAX_S; our deadline comes just after it
DISCONNECT_POLL_S = 1.0  # how often a silent event stream looks whether its client is still there
KEEPALIVE_S = 15.0  # an SSE comment this often while the job is silent (proxies keep the connection)
READY_TIMEOUT_S = 2.0


class GatewayClient:
    """A blocking channel for request/response calls (run in the threadpool), and an asyncio one, made on
    first use inside the server's event loop, for event streams: a stream whose browser went away is
    cancelled at once instead of holding a worker thread until the job's next change."""

    def __init__(self, address: str, settings: Settings) -> None:
        self.address = address
        self.settings = settings
        self.channel = channel(address, settings)
        self.calls = analysis_pb2_grpc.CallAnalysisStub(self.channel)
        self.jobs = jobs_pb2_grpc.JobsStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self._aio: grpc.aio.Channel | None = None

    def _aio_jobs(self) -> jobs_pb2_grpc.JobsStub:
        if self._aio is None:
            self._aio = aio_channel(self.address, self.settings)
        return jobs_pb2_grpc.JobsStub(self._aio)

    async def close(self) -> None:
        self.channel.close()
        if self._aio is not None:
            await self._aio.close(None)

    def ready(self) -> str:
        """The gateway's health status name (SERVING when it can take calls); raises grpc.RpcError if unreachable."""
        reply = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=READY_TIMEOUT_S)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def analyze(self, audio: Path, options: analysis_pb2.AnalyzeOptions, call_id: str
                ) -> analysis_pb2.AnalyzeCallResponse:
        """AnalyzeUpload of a file on disk, in chunks: never the whole recording in memory."""
        return analyze_path(self.calls, audio, options, call_id=call_id, timeout_s=ANALYZE_TIMEOUT_S)

    def submit(self, method: str, request) -> jobs_pb2.Job:
        return getattr(self.jobs, method)(request, timeout=RPC_TIMEOUT_S)

    @property
    def watch_timeout_s(self) -> float:
        """The deadline of an event stream's WatchJob: just after the gateway's own end of it (SER_WATCH_MAX_S),
        so the gateway ends it cleanly and the browser reconnects."""
        return self.settings.watch_max_s + WATCH_SLACK_S

    async def job_events(self, job_id: str, is_disconnected: Callable[[], Awaitable[bool]] | None = None
                         ) -> AsyncIterator[str]:
        """Server-sent events: ``event: job`` with the Job JSON on every change (WatchJob), the last one
        final; a failure of the stream ends it with ``event: error`` and a problem-details body. While the
        job is silent, ``is_disconnected`` (the request's) is asked every DISCONNECT_POLL_S: a client that
        left cancels the WatchJob within about a second, not at the job's next change. The stream ends
        without a final event after SER_WATCH_MAX_S (the client reconnects)."""
        call = self._aio_jobs().WatchJob(jobs_pb2.WatchJobRequest(id=job_id), timeout=self.watch_timeout_s,
                                         metadata=bearer_metadata(self.settings.token_for("gateway")))
        loop = asyncio.get_running_loop()
        reading: asyncio.Future | None = None
        last_sent = loop.time()
        try:
            while True:
                if reading is None:
                    reading = asyncio.ensure_future(call.read())
                done, _ = await asyncio.wait({reading}, timeout=DISCONNECT_POLL_S)
                if not done:
                    if is_disconnected is not None and await is_disconnected():
                        return
                    if loop.time() - last_sent >= KEEPALIVE_S:
                        last_sent = loop.time()
                        yield ": keep-alive\n\n"
                    continue
                event, reading = reading.result(), None
                if event is grpc.aio.EOF:
                    return
                last_sent = loop.time()
                yield f"event: job\nid: {event.at_unix_ms}\ndata: {json.dumps(proto_json(event.job))}\n\n"
                if event.final:
                    return
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                return  # the client left, or the stream's time is up: the client reconnects
            problem = from_rpc_error(exc)
            body = {"status": problem.status, "code": problem.code, "detail": problem.detail}
            yield f"event: error\ndata: {json.dumps(body)}\n\n"
        finally:
            if reading is not None:
                reading.cancel()
            call.cancel()
