"""Issue 18, finding 2 (the HTTP side): an event stream whose client left cancels its WatchJob within seconds even
while the job is silent (it used to wait for the job's next change, with a 24 h deadline), and its deadline
matches the gateway's end of a watch (SER_WATCH_MAX_S): the stream ends cleanly and the browser reconnects.

Uvicorn today says ASGI spec 2.3, and Starlette then listens for the disconnect itself; a server saying 2.4
leaves it to the app, which used to notice only when it next wrote. Both are served here."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from services.http.app import create_app
from services.http.gateway_client import WATCH_SLACK_S, GatewayClient
from tests.helpers import serve_app
from tests.http.conftest import TOKEN
from tests.http.test_http_jobs import batch, sse_events

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def with_spec_version(app, version: str):
    """``app`` as a server speaking ASGI spec ``version`` would call it."""

    async def asgi(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": version}}
        await app(scope, receive, send)

    return asgi


@pytest.fixture(scope="module", params=["2.3", "2.4"])
def base_url(served, request):
    with serve_app(with_spec_version(create_app(served.settings), request.param)) as url:
        yield url


def watch_ends(caplog) -> list[str]:
    """The gateway's access-log statuses of WatchJob calls that have ended."""
    return [r.status for r in caplog.records
            if r.name == "ser.rpc" and getattr(r, "method", "") == "/ser.v1.Jobs/WatchJob"]


def test_a_client_that_leaves_a_silent_stream_frees_its_watch_within_seconds(served, base_url, caplog):
    caplog.set_level(logging.INFO, logger="ser.rpc")
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30, trust_env=False) as client:
        job_id = client.post("/v1/jobs", json=batch(served)).json()["id"]  # no worker: PENDING, silent
        for _ in range(2):
            before = len(watch_ends(caplog))
            with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                first = next(line for line in stream.iter_lines() if line.startswith("data: "))
                assert '"JOB_STATE_PENDING"' in first
            left = time.monotonic()  # the connection is closed, the job says nothing more
            while len(watch_ends(caplog)) == before and time.monotonic() - left < 6:
                time.sleep(0.1)
            assert len(watch_ends(caplog)) > before, "the gateway still watches for a client that left"
            assert time.monotonic() - left < 4.0
            assert watch_ends(caplog)[-1] == "CANCELLED"
        assert client.get("/readyz").status_code == 200
        client.delete(f"/v1/jobs/{job_id}")


def test_the_event_stream_deadline_follows_SER_WATCH_MAX_S(served):
    assert GatewayClient("127.0.0.1:1", served.settings).watch_timeout_s == served.settings.watch_max_s + WATCH_SLACK_S
    short = dataclasses.replace(served.settings, watch_max_s=1.0)  # this HTTP side only: its deadline ~6 s
    with TestClient(create_app(short)) as client:
        client.headers["Authorization"] = AUTH["Authorization"]
        job_id = client.post("/v1/jobs", json=batch(served)).json()["id"]
        lines: list[str] = []

        def follow() -> None:
            with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                lines.extend(stream.iter_lines())

        started = time.monotonic()
        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        reader.join(20)
        assert not reader.is_alive(), "the event stream outlived its deadline"
        assert time.monotonic() - started < 15
        events = sse_events(lines)
        assert [name for name, _ in events] == ["job"] and events[0][1]["state"] == "JOB_STATE_PENDING", lines
        client.delete(f"/v1/jobs/{job_id}")
