"""A bounded load test: concurrent AnalyzeCall and AnalyzeStream clients against an in-process gateway,
preprocess and inference (tiny model). Requests and time are both capped. It reports throughput,
p50/p95 latency, status codes and memory, and fails on any status but OK/RESOURCE_EXHAUSTED or on
memory that keeps growing. Numbers go to artifacts/test-results/load.json (tests/bench/results/ with SER_PUBLISH_RESULTS=1).

Knobs: SER_LOAD_REQUESTS (default 120), SER_LOAD_SECONDS (default 90), SER_LOAD_CALL_CLIENTS (4),
SER_LOAD_STREAM_CLIENTS (2).
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.preprocess.server import serve as serve_preprocess
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from shared.settings import Settings
from tests.contract.test_gateway_service import call_request
from tests.contract.tiny_model import publish_tiny
from tests.helpers import results_path

pytestmark = pytest.mark.slow
MAX_REQUESTS = int(os.environ.get("SER_LOAD_REQUESTS", "120"))
MAX_SECONDS = float(os.environ.get("SER_LOAD_SECONDS", "90"))
CALL_CLIENTS = int(os.environ.get("SER_LOAD_CALL_CLIENTS", "4"))
STREAM_CLIENTS = int(os.environ.get("SER_LOAD_STREAM_CLIENTS", "2"))
STREAM_PACE = 8.0  # stream audio at 8x real time
CHUNK_MS = 200
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
MAX_GROWTH_MB = 150.0
RESULTS = results_path("load.json")


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process (servers and clients alike) from /proc, MiB."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass(frozen=True)
class Result:
    kind: str
    seconds: float
    code: grpc.StatusCode


class Budget:
    """Hands out request slots until either cap is reached."""

    def __init__(self, requests: int, seconds: float) -> None:
        self._left, self._lock = requests, threading.Lock()
        self.deadline = time.monotonic() + seconds

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0 or time.monotonic() > self.deadline:
                return False
            self._left -= 1
            return True


def stream(pcm: np.ndarray, rate: int) -> Iterator[analysis_pb2.AnalyzeStreamRequest]:
    fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=pcm.shape[1], encoding=common_pb2.PCM_ENCODING_S16LE)
    yield analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig(format=fmt, call_id="load"))
    step = rate * CHUNK_MS // 1000
    for start in range(0, len(pcm), step):
        yield analysis_pb2.AnalyzeStreamRequest(chunk=np.ascontiguousarray(pcm[start : start + step]).tobytes())
        time.sleep(CHUNK_MS / 1000.0 / STREAM_PACE)


def client(kind: str, stub, budget: Budget, results: list[Result], progress) -> None:
    request = call_request()
    pcm, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    while budget.take():
        started = time.perf_counter()
        try:
            if kind == "call":
                stub.AnalyzeCall(request, timeout=120)
            else:
                replies = list(stub.AnalyzeStream(stream(pcm, rate), timeout=120))
                assert replies and replies[-1].WhichOneof("kind") == "result"
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        results.append(Result(kind, time.perf_counter() - started, code))
        progress()


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else 0.0


def test_bounded_concurrent_load(tmp_path):
    publish_tiny(tmp_path)
    settings = dataclasses.replace(Settings.from_env(env={}), grpc_workers=16)
    preprocess, preprocess_port = serve_preprocess(settings, port=0)
    inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=5), registry=ModelRegistry(tmp_path),
                                device="cpu")
    gateway = serve_gateway(dataclasses.replace(settings, addresses={
        **settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}", "inference": f"127.0.0.1:{inference.port}"}),
        port=0)
    ch = channel(f"127.0.0.1:{gateway.port}", settings)
    stub = analysis_pb2_grpc.CallAnalysisStub(ch)
    try:
        for _ in range(2):  # warm-up: first VAD and model passes, allocator pools
            stub.AnalyzeCall(call_request(), timeout=120)
        rss_start = rss_mb()
        results: list[Result] = []
        rss_half: list[float] = []
        lock = threading.Lock()

        def progress() -> None:
            with lock:
                if not rss_half and len(results) >= MAX_REQUESTS // 2:
                    rss_half.append(rss_mb())

        budget = Budget(MAX_REQUESTS, MAX_SECONDS)
        threads = [threading.Thread(target=client, args=("call", stub, budget, results, progress))
                   for _ in range(CALL_CLIENTS)]
        threads += [threading.Thread(target=client, args=("stream", stub, budget, results, progress))
                    for _ in range(STREAM_CLIENTS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=MAX_SECONDS + 150)
        wall = time.perf_counter() - started
        rss_end = rss_mb()
    finally:
        ch.close()
        gateway.stop(0)
        inference.stop(0)
        preprocess.stop(0)

    codes = Counter(r.code.name for r in results)
    ok = [r for r in results if r.code == grpc.StatusCode.OK]
    by_kind = {kind: [r.seconds for r in ok if r.kind == kind] for kind in ("call", "stream")}
    audio_s = 14.6
    numbers = {
        "setup": {"call_clients": CALL_CLIENTS, "stream_clients": STREAM_CLIENTS, "max_requests": MAX_REQUESTS,
                  "max_seconds": MAX_SECONDS, "audio": "sample_call.wav (14.6 s stereo 16 kHz)",
                  "stream_pace_x_realtime": STREAM_PACE, "model": "tiny CCT (random weights)", "device": "cpu",
                  "cpus": os.cpu_count(), "machine": platform.machine(), "in_process": "gateway+preprocess+inference+clients"},
        "requests": len(results), "wall_s": round(wall, 2),
        "throughput_rps": round(len(results) / wall, 3),
        "audio_seconds_per_second": round(len(ok) * audio_s / wall, 2),
        "codes": dict(codes),
        "latency_s": {kind: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95),
                             "max": round(max(v), 3) if v else 0.0} for kind, v in by_kind.items()},
        "rss_mb": {"after_warmup": round(rss_start, 1), "at_half": round(rss_half[0] if rss_half else rss_end, 1),
                   "at_end": round(rss_end, 1), "peak_hwm": round(rss_mb("VmHWM"), 1)},
    }
    print(json.dumps({"load": numbers}, indent=2))
    RESULTS.write_text(json.dumps(numbers, indent=2) + "\n")
    assert results and len(results) <= MAX_REQUESTS
    assert set(r.code for r in results) <= ALLOWED, codes
    assert by_kind["call"] and by_kind["stream"], "both kinds of clients must complete requests"
    growth = numbers["rss_mb"]["at_end"] - numbers["rss_mb"]["at_half"]
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.0f} MB over the second half of the run"
