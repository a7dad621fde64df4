"""``analyze_batch`` on a real Celery worker against an in-process stack (preprocess, inference, gateway).

The gateway runs in this process, so every AnalyzeUpload the worker makes is counted here by file;
that is how the tests show that a resubmission, or a redelivery after the worker is SIGKILLed, does
not analyse a finished file again.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import itertools
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import redis
import soundfile as sf

from services.cli.local_stack import local_stack
from services.gateway.call_analysis import CallAnalysisServicer
from services.jobs.app import make_app
from services.jobs.client import JobClient
from services.jobs.jsonl import read_records
from services.jobs.store import JobState, JobStore
from shared.assets import sample_call_path
from shared.settings import Settings
from tests.contract.tiny_model import publish_tiny
from tests.helpers import scratch_redis_url, start_worker, stop, wait_worker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]
FILES = 20


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = scratch_redis_url(9)
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {url}: run `make redis` first ({exc})")
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="module")
def gateway_calls():
    """call_id (the file path) -> uploads (AnalyzeUpload, how workers send files) the gateway received."""
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    original = CallAnalysisServicer.AnalyzeUpload

    def counted(self, request_iterator, context):
        first = next(request_iterator)
        with lock:
            counts[first.config.call_id] += 1
        return original(self, itertools.chain([first], request_iterator), context)

    CallAnalysisServicer.AnalyzeUpload = counted
    yield counts
    CallAnalysisServicer.AnalyzeUpload = original


@pytest.fixture(scope="module")
def stack(tmp_path_factory, gateway_calls):
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root)
    settings = dataclasses.replace(Settings.from_env(env={}), grpc_workers=16)
    with local_stack(settings, registry_root=root, device="cpu", preload=True) as running:
        yield running


@pytest.fixture(scope="module")
def env(stack, redis_url, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("jobs")
    return {**os.environ, "SER_REDIS_URL": redis_url, "SER_ARTIFACTS_DIR": str(root / "artifacts"),
            "SER_OUTPUT_ROOTS": str(tmp_path_factory.getbasetemp()),
            "SER_GATEWAY_ADDR": stack.address("gateway"), "OMP_NUM_THREADS": "1", "SER_TORCH_THREADS": "1",
            "SER_VISIBILITY_TIMEOUT_S": "15", "SER_JOB_LEASE_S": "6", "SER_LOG_JSON": "0"}


@pytest.fixture(scope="module")
def client(env) -> JobClient:
    settings = Settings.from_env(env)
    return JobClient(make_app(settings), JobStore.from_url(settings.redis_url), settings)


def make_calls(folder: Path, count: int = FILES, corrupt: int = 0) -> list[Path]:
    """``count`` distinct stereo calls cut from the sample call (6-12 s), the last ``corrupt`` of them garbage."""
    data, rate = sf.read(sample_call_path(), dtype="float32", always_2d=True)
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"call_{i:02d}.wav"
        if i >= count - corrupt:
            path.write_bytes(b"RIFF\x00\x00garbage" * 40)
        else:
            cut = data[: int(rate * (6 + i % 4 * 2))]
            sf.write(path, cut[:, ::-1] if i % 2 else cut * np.float32(0.8 + 0.01 * i), rate)
        paths.append(path)
    return paths


def finish(client: JobClient, job_id: str, timeout_s: float = 240) -> object:
    list(client.watch(job_id, timeout_s=timeout_s))
    return client.get(job_id)


def test_batch_over_20_files_finishes_records_errors_and_resubmission_skips_finished(client, env, gateway_calls,
                                                                                     tmp_path):
    paths = make_calls(tmp_path / "calls", FILES, corrupt=1)
    out = tmp_path / "out"
    worker = start_worker(env, tmp_path / "worker.log", queues="batch")
    try:
        wait_worker(client.app, worker, tmp_path / "worker.log")
        started = time.perf_counter()
        job = client.submit("analyze_batch", {"manifest": str(tmp_path / "calls"), "output_dir": str(out)})
        events = list(client.watch(job.id, timeout_s=240))
        final = client.get(job.id)
        elapsed = time.perf_counter() - started
        assert final.state is JobState.PARTIAL, (final, (tmp_path / "worker.log").read_text()[-3000:])
        assert final.result["completed"] == FILES - 1 and final.result["failed"] == 1
        assert final.result["errors"] == [f"{paths[-1]}: INVALID_ARGUMENT"]
        assert max(e.get("done", 0) for e in events) == FILES and final.total == FILES
        records = read_records(out / "results.jsonl")
        assert sorted(r["path"] for r in records) == [str(p) for p in paths]
        assert all(r["ok"] for r in records if r["path"] != str(paths[-1]))
        for r in records[:3]:
            if r["ok"]:
                lines = (out / r["result"]).read_text().splitlines()
                assert json.loads(lines[0])["kind"] == "call" and len(lines) == 1 + r["segments"]
        with open(out / "summary.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["file"] for r in rows] == [str(p) for p in paths]
        assert all(float(r["agent_talk_s"]) > 0 and float(r["customer_talk_s"]) > 0 for r in rows[:-1])
        assert rows[-1]["ok"] == "False" and rows[-1]["error"] == "INVALID_ARGUMENT"
        assert {str(p): gateway_calls[str(p)] for p in paths} == {str(p): 1 for p in paths}
        print(f"analyze_batch over {FILES} files: {elapsed:.1f} s end to end (incl. queueing)")

        again = finish(client, client.submit("analyze_batch", {"manifest": str(tmp_path / "calls"),
                                                                "output_dir": str(out)}).id)
        assert again.state is JobState.PARTIAL and again.result["skipped"] == FILES  # the corrupt file is final
        assert len(read_records(out / "results.jsonl")) == FILES
        assert all(gateway_calls[str(p)] == 1 for p in paths), "a resubmission must not redo finished files"

        redo = client.submit("analyze_batch", {"manifest": str(tmp_path / "calls"), "output_dir": str(out),
                                               "redo_finished": True, "concurrency": 1})
        cancelled = False
        for event in client.watch(redo.id, timeout_s=120):
            if not cancelled and event.get("done", 0) >= 2:
                client.cancel(redo.id)
                cancelled = True
        final = client.get(redo.id)
        redone = [r for r in read_records(out / "results.jsonl") if r["job_id"] == redo.id]
        assert final.state is JobState.CANCELLED and 2 <= len(redone) < FILES, (final, len(redone))
        assert final.result["output_dir"] == str(out)
    finally:
        stop(worker)


def test_killed_worker_then_resubmission_and_redelivery_do_not_redo_finished_files(client, env, gateway_calls,
                                                                                     tmp_path):
    paths = make_calls(tmp_path / "calls", FILES)
    out = tmp_path / "out"
    spec = {"manifest": str(tmp_path / "calls"), "output_dir": str(out), "concurrency": 1}
    first = start_worker(env, tmp_path / "w1.log", queues="batch")
    try:
        wait_worker(client.app, first, tmp_path / "w1.log")
        job = client.submit("analyze_batch", spec)
        deadline = time.monotonic() + 120
        while len(read_records(out / "results.jsonl")) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    done_before = {r["path"] for r in read_records(out / "results.jsonl")}
    assert 5 <= len(done_before) < FILES, "the worker must die mid-job"
    assert client.get(job.id).state is JobState.RUNNING

    second = start_worker(env, tmp_path / "w2.log", queues="batch")
    try:
        resubmitted = finish(client, client.submit("analyze_batch", spec).id)
        redelivered = finish(client, job.id, timeout_s=180)  # after the visibility timeout and the lease lapse
    finally:
        stop(second)
    log = (tmp_path / "w2.log").read_text()[-3000:]
    assert resubmitted.state is JobState.SUCCEEDED, (resubmitted, log)
    assert resubmitted.result["skipped"] >= len(done_before) and resubmitted.result["completed"] == FILES
    assert redelivered.state is JobState.SUCCEEDED and redelivered.attempts == 2, (redelivered, log)
    records = read_records(out / "results.jsonl")
    assert len(records) == FILES and {r["path"] for r in records} == {str(p) for p in paths}, "each file once"
    assert all(gateway_calls[p] == 1 for p in done_before), "finished files were analysed again"
    in_flight = sum(gateway_calls[str(p)] for p in paths) - FILES
    assert 0 <= in_flight <= 1, f"{in_flight} calls redone; only the one in flight at the kill may be"
