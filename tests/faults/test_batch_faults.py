"""A batch job survives its worker being SIGKILLed and Redis being killed and restarted: it completes,
and its JSONL holds every file exactly once (nothing lost, nothing twice)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from services.jobs.app import make_app
from services.jobs.client import JobClient
from services.jobs.store import JobState, JobStore
from shared.assets import sample_call_path
from shared.settings import Settings
from tests.faults.procs import PrivateRedis
from tests.helpers import free_port, scratch_redis_url, start_worker, stop, wait_worker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]
COPIES = 30
DB = 6


def batch_folder(root: Path, copies: int = COPIES) -> Path:
    folder = root / "calls"
    folder.mkdir(parents=True)
    for i in range(copies):
        shutil.copy(sample_call_path(), folder / f"call_{i:02d}.wav")
    return folder


def fault_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    return {**os.environ, "SER_REDIS_URL": redis_url, "SER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "SER_OUTPUT_ROOTS": str(tmp_path),
            "OMP_NUM_THREADS": "1", "SER_TORCH_THREADS": "1", "SER_VISIBILITY_TIMEOUT_S": "15",
            "SER_JOB_LEASE_S": "6"}


def wait_done(store: JobStore, job_id: str, at_least: int, timeout_s: float) -> int:
    """Poll until the job reports ``at_least`` items done; tolerant of Redis being away."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            job = store.get(job_id)
            if job.done >= at_least or job.state.finished:
                return job.done
        except redis.RedisError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not reach {at_least} items in {timeout_s} s")


def wait_final(store: JobStore, job_id: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            job = store.get(job_id)
            if job.state.finished:
                return job
        except redis.RedisError:
            pass
        time.sleep(0.5)
    return store.get(job_id)


def jsonl_counts(job) -> Counter:
    lines = Path(job.result["output"]).read_text().splitlines()
    return Counter(Path(json.loads(line)["path"]).name for line in lines)


def test_sigkilled_worker_mid_batch_another_worker_completes_it_with_every_file_once(tmp_path):
    env = fault_env(tmp_path, scratch_redis_url(DB))  # a DB of its own: no other worker can take the job
    redis.Redis.from_url(env["SER_REDIS_URL"]).flushdb()
    settings = Settings.from_env(env)
    app = make_app(settings)
    store = JobStore.from_url(settings.redis_url)
    client = JobClient(app, store, settings)
    folder = batch_folder(tmp_path)
    first = start_worker(env, tmp_path / "w1.log", queues="batch")
    second = None
    try:
        wait_worker(app, first, tmp_path / "w1.log")
        job = client.submit("segment_batch", {"manifest": str(folder), "output_dir": str(tmp_path / "out")})
        killed_at = wait_done(store, job.id, 8, timeout_s=180)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert killed_at < COPIES and store.get(job.id).state is JobState.RUNNING
        second = start_worker(env, tmp_path / "w2.log", queues="batch")
        final = wait_final(store, job.id, timeout_s=240)
    finally:
        stop(first)
        if second is not None:
            stop(second)
        redis.Redis.from_url(env["SER_REDIS_URL"]).flushdb()
    assert final.state is JobState.SUCCEEDED, (final, (tmp_path / "w2.log").read_text()[-3000:])
    assert final.attempts == 2 and final.result["completed"] == COPIES and final.result["failed"] == 0
    counts = jsonl_counts(final)
    assert set(counts) == {f"call_{i:02d}.wav" for i in range(COPIES)} and set(counts.values()) == {1}, counts


def test_redis_killed_and_restarted_mid_batch_the_job_completes_with_every_file_once(tmp_path):
    server = PrivateRedis(free_port(), tmp_path / "redis")
    server.start()
    env = fault_env(tmp_path, server.url)
    settings = Settings.from_env(env)
    app = make_app(settings)
    store = JobStore.from_url(settings.redis_url)
    folder = batch_folder(tmp_path)
    worker = start_worker(env, tmp_path / "worker.log", queues="batch")
    try:
        wait_worker(app, worker, tmp_path / "worker.log")
        job = JobClient(app, store, settings).submit("segment_batch", {"manifest": str(folder), "output_dir": str(tmp_path / "out")})
        wait_done(store, job.id, 5, timeout_s=180)
        server.kill()
        time.sleep(3.0)  # long enough for the worker's Redis calls to fail, not just be delayed
        server.start()
        final = wait_final(store, job.id, timeout_s=300)
    finally:
        stop(worker)
        server.kill()
    log = (tmp_path / "worker.log").read_text()
    assert final.state in (JobState.SUCCEEDED, JobState.FAILED), final
    if final.state is JobState.FAILED:  # allowed only as a clear, recorded failure
        assert final.error, final
    assert final.state is JobState.SUCCEEDED, (final, log[-3000:])
    assert final.result["completed"] == COPIES
    counts = jsonl_counts(final)
    assert set(counts) == {f"call_{i:02d}.wav" for i in range(COPIES)} and set(counts.values()) == {1}, counts
