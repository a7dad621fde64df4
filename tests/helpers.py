"""Test helpers shared across suites: free ports, a Redis URL on a scratch DB, a worker subprocess."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_redis_url(db: int) -> str:
    """The developer's Redis on a DB number the tests own (flushed by the fixtures that use it)."""
    base = os.environ.get("SER_TEST_REDIS", "redis://127.0.0.1:6379")
    return f"{base.rstrip('/')}/{db}"


def results_path(name: str) -> Path:
    """Where a test writes the numbers it measured: the untracked artifacts/test-results/ (so `make test`
    leaves the tree clean), or the published tests/bench/results/ with SER_PUBLISH_RESULTS=1."""
    folder = (REPO / "tests" / "bench" / "results" if os.environ.get("SER_PUBLISH_RESULTS") == "1"
              else REPO / "artifacts" / "test-results")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def clean_redis(db: int) -> str:
    """URL of scratch database ``db``, emptied; fails the test when no Redis answers (make starts one)."""
    import pytest
    import redis

    url = scratch_redis_url(db)
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not reachable at {url}")
    redis.Redis.from_url(url).flushdb()
    return url


def start_worker(env: dict[str, str], log: Path, queues: str = "default,batch,fit,train,eval") -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "services.jobs.app", "worker", "-Q", queues, "-c", "1",
             "-n", f"test-{os.getpid()}-{time.time_ns()}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_worker(app, proc: subprocess.Popen, log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"worker did not answer:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen, sig: int = 15, timeout_s: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@contextmanager
def serve_app(app, startup_s: float = 30.0) -> Iterator[str]:
    """An ASGI app under a real uvicorn server on a free loopback port, in a thread; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_s
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def scratch_job_store(db: int):
    """A JobStore on a flushed scratch Redis database; fails (not skips) when Redis is down, as CI must have it."""
    import pytest
    import redis

    from services.jobs.store import JobStore

    client = redis.Redis.from_url(scratch_redis_url(db), decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not reachable: run `make redis` first")
    client.flushdb()
    return JobStore(client)
