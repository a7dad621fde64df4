"""The local stack: Redis (started if missing), every implemented gRPC service and a Celery worker.

State lives in ``<artifacts>/run/stack.json`` so ``ser down`` stops exactly what ``ser up`` started
(and leaves alone a Redis it found already running).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import redis
import yaml

from services.cli.debian import REDIS, ensure_binaries
from services.common.security import mask_url
from shared.registry.bundled import seed_registry
from shared.settings import Settings

HTTP = "http"  # the HTTP API: probed over HTTP, not gRPC health
STACK_FILE = Path(__file__).resolve().parents[2] / "deploy" / "stack.yaml"


@dataclass(frozen=True)
class StackConfig:
    services: tuple[str, ...] = ("preprocess",)
    queues: tuple[str, ...] = ("default", "batch", "fit", "train", "eval")
    concurrency: int = 1
    health_timeout_s: float = 120.0

    @classmethod
    def load(cls, path: Path = STACK_FILE) -> StackConfig:
        data = yaml.safe_load(path.read_text()) or {}
        worker = data.get("worker", {})
        return cls(services=tuple(data.get("services", cls.services)),
                   queues=tuple(worker.get("queues", cls.queues)),
                   concurrency=int(worker.get("concurrency", cls.concurrency)),
                   health_timeout_s=float(data.get("health_timeout_s", cls.health_timeout_s)))


@dataclass
class StackState:
    processes: dict[str, int] = field(default_factory=dict)
    started_redis: bool = False
    redis_pidfile: str = ""

    @staticmethod
    def path(settings: Settings) -> Path:
        return settings.artifacts_dir / "run" / "stack.json"

    def save(self, settings: Settings) -> None:
        p = self.path(settings)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, settings: Settings) -> StackState:
        p = cls.path(settings)
        return cls(**json.loads(p.read_text())) if p.exists() else cls()


def redis_ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def install_redis() -> str:
    """Debian's redis-server, installed with apt-get when we are root and it is missing."""
    try:
        return ensure_binaries(REDIS, "Redis is not reachable and")["redis-server"]
    except RuntimeError as e:
        raise RuntimeError(f"{e}, or set SER_REDIS_URL") from e


def ensure_redis(settings: Settings, state: StackState | None = None) -> bool:
    """Start a local redis-server if none answers at SER_REDIS_URL; True when we started one."""
    if redis_ping(settings.redis_url):
        return False
    url = urlparse(settings.redis_url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1", None):
        raise RuntimeError(f"Redis at {mask_url(settings.redis_url)} is not reachable (remote hosts are not started here)")
    binary = install_redis()
    run_dir = (settings.artifacts_dir / "run").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    pidfile = run_dir / "redis.pid"
    subprocess.run([binary, "--port", str(url.port or 6379), "--bind", "127.0.0.1", "--daemonize", "yes",
                    "--save", "", "--appendonly", "no", "--dir", str(run_dir), "--pidfile", str(pidfile),
                    "--logfile", str(run_dir / "redis.log")], check=True)
    deadline = time.monotonic() + 20
    while not redis_ping(settings.redis_url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server started but {mask_url(settings.redis_url)} does not answer; see {run_dir}/redis.log")
        time.sleep(0.2)
    if state is not None:
        state.started_redis, state.redis_pidfile = True, str(pidfile)
    return True


def _spawn(name: str, argv: list[str], settings: Settings) -> subprocess.Popen:
    logs = settings.artifacts_dir / "run" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # MALLOC_ARENA_MAX as in the image: glibc keeps a heap per RPC thread otherwise (services.common.runtime)
    env = {"MALLOC_ARENA_MAX": "2", **os.environ, "OMP_NUM_THREADS": str(settings.torch_threads), "PYTHONUNBUFFERED": "1"}
    with open(logs / f"{name}.log", "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def http_url(settings: Settings) -> str:
    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{settings.http_port}/"


def wait_http_ready(settings: Settings, timeout_s: float, proc: subprocess.Popen | None = None) -> str:
    """Block until the HTTP API answers /readyz with 200 (it and the gateway behind it are up); its URL."""
    import httpx

    url = http_url(settings)
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the HTTP API exited with {proc.returncode}; see its log")
        try:
            reply = httpx.get(url + "readyz", timeout=2.0, trust_env=False)
            if reply.status_code == 200:
                return url
            last = f"{reply.status_code} {reply.text[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.3)
    raise TimeoutError(f"the HTTP API at {url} was not ready after {timeout_s:.0f} s ({last})")


def _wait_worker(settings: Settings, proc: subprocess.Popen, timeout_s: float) -> None:
    from services.jobs.app import make_app

    app = make_app(settings)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {proc.returncode}; see its log")
        if app.control.ping(timeout=1.0):
            return
        time.sleep(0.5)
    raise RuntimeError("the Celery worker did not answer a ping in time")


def up(settings: Settings, config: StackConfig | None = None, *, worker: bool = True, echo=print) -> StackState:
    from services.common.client import wait_healthy

    config = config or StackConfig.load()
    state = StackState.load(settings)
    if state.processes:
        down(settings, echo=echo)
        state = StackState()
    seeded = seed_registry(settings.artifacts_dir / "registry")
    if seeded:
        echo(f"registry: added bundled model(s) {', '.join(seeded)}")
    if ensure_redis(settings, state):
        echo(f"started redis-server for {mask_url(settings.redis_url)}")
    else:
        echo(f"redis is reachable at {mask_url(settings.redis_url)}")
    try:
        procs: dict[str, subprocess.Popen] = {}
        for name in config.services:
            procs[name] = _spawn(name, [sys.executable, "-m", "services.cli.main", "serve", name], settings)
            state.processes[name] = procs[name].pid
        if worker:
            procs["worker"] = _spawn("worker", [sys.executable, "-m", "celery", "-A", "services.jobs.app", "worker",
                                                "-Q", ",".join(config.queues), "-c", str(config.concurrency),
                                                "-n", f"ser-{os.getpid()}@%h", "-l", "INFO"], settings)
            state.processes["worker"] = procs["worker"].pid
        state.save(settings)
        for name in config.services:
            if name == HTTP:
                url = wait_http_ready(settings, config.health_timeout_s, procs[name])
                echo(f"{name:<11} ready at {url} (web view; API under /v1, docs at /docs)")
                continue
            address = settings.address(name)
            wait_healthy(address, timeout=config.health_timeout_s, settings=settings)
            echo(f"{name:<11} healthy at {address}")
        if worker:
            _wait_worker(settings, procs["worker"], config.health_timeout_s)
            echo(f"{'worker':<11} ready on queues {','.join(config.queues)}")
    except BaseException:
        down(settings, echo=echo)
        raise
    return state


def _stop_pid(pid: int, timeout_s: float = 20.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:  # not our child: poll for existence instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(settings: Settings, echo=print) -> None:
    state = StackState.load(settings)
    for name, pid in state.processes.items():
        _stop_pid(pid)
        echo(f"stopped {name} (pid {pid})")
    if state.started_redis and state.redis_pidfile and Path(state.redis_pidfile).exists():
        pid = int(Path(state.redis_pidfile).read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
            echo("stopped the redis-server this stack started")
        except ProcessLookupError:
            pass
    StackState.path(settings).unlink(missing_ok=True)
