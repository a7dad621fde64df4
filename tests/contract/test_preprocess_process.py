"""`python -m services.preprocess` as a real process: JSON logs, health, and a graceful SIGTERM stop."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common.client import wait_healthy

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_main_serves_and_stops_on_sigterm() -> None:
    env = {
        **os.environ,
        "SER_PREPROCESS_ADDR": "127.0.0.1:0",  # port 0: ephemeral, announced in the log
        "SER_LOG_JSON": "1",
        "SER_GRPC_WORKERS": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(REPO / "protos"), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.preprocess"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            entry = json.loads(line)  # every line is JSON
            if entry.get("msg", "").startswith("preprocess listening"):
                port = entry["port"]
        assert port, f"server did not announce its port: {lines}"
        wait_healthy(f"127.0.0.1:{port}", 10, service="ser.v1.Preprocess")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = [json.loads(line) for line in proc.stderr.read().splitlines() if line.strip()]
        assert any(e.get("msg") == "preprocess stopped" for e in rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
