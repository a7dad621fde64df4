"""The inference service dies (SIGKILL) under AnalyzeCall traffic: the gateway answers UNAVAILABLE promptly
(not at the deadline), and recovers by itself once the service is back on the same port."""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass

import grpc
import pytest
from ser.v1 import analysis_pb2_grpc

from services.common.client import channel, wait_healthy
from services.gateway.server import serve as serve_gateway
from services.preprocess.server import serve as serve_preprocess
from shared.settings import Settings
from tests.contract.test_gateway_service import call_request
from tests.contract.tiny_model import publish_tiny
from tests.faults.procs import kill_group, spawn_service
from tests.helpers import free_port, results_path

pytestmark = pytest.mark.slow
DEADLINE_S = 60.0  # generous: an outage must be reported long before it
PROMPT_S = 5.0
RESULTS = results_path("faults.json")


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    code: grpc.StatusCode

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def traffic(stub, calls: list[Call], stop: threading.Event) -> None:
    request = call_request()
    while not stop.is_set():
        started = time.monotonic()
        try:
            stub.AnalyzeCall(request, timeout=DEADLINE_S)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        calls.append(Call(started, time.monotonic(), code))


def test_gateway_answers_unavailable_promptly_while_inference_is_down_and_recovers(tmp_path):
    publish_tiny(tmp_path / "artifacts" / "registry")
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SER_INFERENCE_ADDR": address, "SER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
           "SER_LOG_JSON": "0", "OMP_NUM_THREADS": "1", "SER_REGISTRY_POLL_S": "5"}
    base = Settings.from_env(env={})
    inference = spawn_service("inference", env, tmp_path / "inference1.log")
    preprocess, preprocess_port = serve_preprocess(base, port=0)
    gateway = serve_gateway(dataclasses.replace(base, addresses={
        **base.addresses, "preprocess": f"127.0.0.1:{preprocess_port}", "inference": address}), port=0)
    calls: list[Call] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        wait_healthy(address, timeout=120, settings=base)
        ch = channel(f"127.0.0.1:{gateway.port}", base)
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        threads = [threading.Thread(target=traffic, args=(stub, calls, stop), daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        while sum(c.code == grpc.StatusCode.OK for c in calls) < 6:
            time.sleep(0.1)
        killed = time.monotonic()
        kill_group(inference)
        time.sleep(8.0)  # traffic goes on against the dead service
        restarted = time.monotonic()
        inference = spawn_service("inference", env, tmp_path / "inference2.log")
        wait_healthy(address, timeout=120, settings=base)
        healthy = time.monotonic()
        recovered = None
        while time.monotonic() - healthy < 60:
            ok_after = [c for c in calls if c.code == grpc.StatusCode.OK and c.started >= healthy]
            if len(ok_after) >= 3:
                recovered = min(c.ended for c in ok_after)
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=DEADLINE_S + 5)
        gateway.stop(0)
        preprocess.stop(0)
        kill_group(inference)
    codes = {c.code for c in calls}
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
    in_flight = [c for c in calls if c.started < killed < c.ended]
    during = [c for c in calls if killed < c.started and c.ended < restarted]
    assert during and all(c.code == grpc.StatusCode.UNAVAILABLE for c in during)
    worst_down = max(c.seconds for c in during)
    worst_in_flight = max((c.ended - killed for c in in_flight), default=0.0)
    assert worst_down < PROMPT_S, f"UNAVAILABLE took {worst_down:.2f} s while inference was down"
    assert worst_in_flight < PROMPT_S, f"calls in flight at the kill ended {worst_in_flight:.2f} s later"
    assert recovered is not None, "the gateway did not recover after inference came back"
    numbers = {
        "calls": len(calls), "ok": sum(c.code == grpc.StatusCode.OK for c in calls),
        "unavailable": sum(c.code == grpc.StatusCode.UNAVAILABLE for c in calls),
        "unavailable_while_down_max_s": round(worst_down, 3),
        "unavailable_while_down_p50_s": round(sorted(c.seconds for c in during)[len(during) // 2], 3),
        "in_flight_at_kill_ended_within_s": round(worst_in_flight, 3),
        "restart_to_healthy_s": round(healthy - restarted, 2),
        "healthy_to_first_ok_s": round(recovered - healthy, 3),
    }
    print(json.dumps({"inference_outage": numbers}, indent=2))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, "inference_outage": numbers}, indent=2) + "\n")
