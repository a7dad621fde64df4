"""Two inference replicas behind one client channel (a comma list of addresses: round_robin, and the retry
policy for idempotent methods); one replica is SIGKILLed mid-load. Every request ends answered: directly, by
the channel's retry on the survivor, or (at worst) UNAVAILABLE and then answered when the caller retries it.
None is lost, no other status appears, and the survivor serves everything after the kill."""
from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable

import grpc
import numpy as np
import pytest
from ser.v1 import emotion_pb2, emotion_pb2_grpc

from services.common.client import channel, wait_healthy
from shared.settings import Settings
from tests.contract.tiny_model import publish_tiny
from tests.faults.procs import kill_group, spawn_service
from tests.helpers import free_port, results_path

pytestmark = pytest.mark.slow
REQUESTS = 200
THREADS = 8
KILL_AFTER = 60
RESULTS = results_path("faults.json")


def served(metrics_port: int) -> float:
    """Predict requests a replica answered, from its Prometheus counter."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(r'^ser_inference_requests_total\{[^}]*method="Predict"[^}]*\} (\S+)$',
                                           text, re.M))


def request(k: int) -> emotion_pb2.PredictRequest:
    rate = 16000
    t = np.arange(rate) / rate
    samples = (0.2 * np.sin(2 * np.pi * (120 + k) * t)).astype(np.float32)
    return emotion_pb2.PredictRequest(request_id=str(k), audio={"raw": {"data": samples.tobytes(), "format": {
        "sample_rate_hz": rate, "channels": 1, "encoding": 5}}})


def test_killing_one_of_two_inference_replicas_loses_no_request(tmp_path):
    publish_tiny(tmp_path / "artifacts" / "registry")
    ports = [free_port(), free_port()]
    metrics = [free_port(), free_port()]
    base = Settings.from_env(env={})
    procs = []
    for k, (port, metrics_port) in enumerate(zip(ports, metrics, strict=True)):
        env = {**os.environ, "SER_INFERENCE_ADDR": f"127.0.0.1:{port}", "SER_METRICS_PORT": str(metrics_port),
               "SER_ARTIFACTS_DIR": str(tmp_path / "artifacts"), "SER_LOG_JSON": "0", "OMP_NUM_THREADS": "1",
               "SER_REGISTRY_POLL_S": "30"}
        procs.append(spawn_service("inference", env, tmp_path / f"inference{k}.log"))
    outcomes: dict[int, list[str]] = {}
    lock = threading.Lock()
    try:
        for port in ports:
            wait_healthy(f"127.0.0.1:{port}", timeout=120, settings=base)
        ch = channel(",".join(f"127.0.0.1:{p}" for p in ports), base, service="inference")
        stub = emotion_pb2_grpc.EmotionStub(ch)
        todo = iter(range(REQUESTS))
        done = threading.Event()
        killed_at: list[float] = []

        def worker(next_item: Callable[[], int | None]) -> None:
            while (k := next_item()) is not None:
                trail = []
                for _ in range(3):  # the caller's own retry, after the channel's
                    try:
                        reply = stub.Predict(request(k), timeout=30)
                        trail.append("ok" if reply.request_id == str(k) and len(reply.posteriors.probs) == 4
                                     else "wrong")
                        break
                    except grpc.RpcError as exc:
                        trail.append(exc.code().name)
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            break
                with lock:
                    outcomes[k] = trail
                    if len(outcomes) >= KILL_AFTER and not killed_at:
                        killed_at.append(time.monotonic())
                        done.set()

        def next_item() -> int | None:
            with lock:
                return next(todo, None)

        threads = [threading.Thread(target=worker, args=(next_item,), daemon=True) for _ in range(THREADS)]
        for t in threads:
            t.start()
        assert done.wait(120), "no load reached the replicas"
        before = [served(m) for m in metrics]
        kill_group(procs[0])
        for t in threads:
            t.join(timeout=120)
        survivor_total = served(metrics[1])
        ch.close()
    finally:
        for proc in procs:
            kill_group(proc)
    assert sorted(outcomes) == list(range(REQUESTS)), "a request was lost"
    retried = {k: v for k, v in outcomes.items() if v != ["ok"]}
    assert all(v[-1] == "ok" and set(v[:-1]) <= {"UNAVAILABLE"} for v in outcomes.values()), retried
    assert len(retried) <= THREADS, f"more requests failed than were in flight at the kill: {retried}"
    assert min(before) > 0, f"round_robin sent nothing to one replica before the kill: {before}"
    after = survivor_total - before[1]
    assert after >= REQUESTS - sum(before) - THREADS, (before, survivor_total)
    numbers = {"requests": REQUESTS, "threads": THREADS, "served_before_kill": before,
               "survivor_served_after_kill": after, "failed_then_retried": len(retried)}
    print(json.dumps({"inference_replicas": numbers}, indent=2))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, "inference_replicas": numbers}, indent=2) + "\n")
