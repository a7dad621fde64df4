"""Real processes the fault tests start, kill and restart on loopback: a private redis-server and services."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.helpers import REPO


class PrivateRedis:
    """A redis-server of the test's own on a fixed port, so it can be killed and restarted in place.

    ``appendonly`` with ``appendfsync always`` is how a production Redis keeps queued jobs and job
    records across a crash (the k8s StatefulSet persists to a volume); SIGKILL then loses nothing acked.
    """

    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder = port, folder
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        if not shutil.which("redis-server"):
            pytest.skip("redis-server is not installed")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> None:
        log = open(self.folder / "redis.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.folder), "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server on {self.port} did not start: {(self.folder / 'redis.log').read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def spawn_service(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``ser serve NAME`` in its own process group (so it can be SIGKILLed with its children)."""
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", name], cwd=REPO, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
