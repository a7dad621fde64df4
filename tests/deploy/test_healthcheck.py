"""deploy/healthcheck.py against a real in-process gRPC health server on an ephemeral port."""
from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ser_deploy_healthcheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, servicer
    finally:
        server.stop(0).wait()


def test_port_comes_from_the_services_address_else_its_default(probe: ModuleType) -> None:
    assert probe.grpc_port("features", {"SER_FEATURES_ADDR": "0.0.0.0:6001"}) == 6001
    assert probe.grpc_port("features", {"SER_FEATURES_ADDR": "features"}) == 50052
    assert probe.grpc_port("gateway", {}) == 50050
    with pytest.raises(ValueError, match="unknown service 'nope'"):
        probe.grpc_port("nope", {})


def test_serving_is_healthy_and_not_serving_is_not(probe: ModuleType, health_server) -> None:
    port, servicer = health_server
    env = {"SER_SERVICE": "speaker", "SER_SPEAKER_ADDR": f"speaker:{port}"}
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert probe.main([], env) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert probe.main(["grpc"], env) == 1


def test_no_server_or_no_service_name_is_unhealthy(probe: ModuleType, capsys) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")  # bound, never started, then released: nobody listens
    server.stop(0).wait()
    env = {"SER_SERVICE": "speaker", "SER_SPEAKER_ADDR": f"127.0.0.1:{port}"}
    assert probe.main(["--timeout", "0.5"], env) == 1
    assert "unhealthy" in capsys.readouterr().err
    assert probe.main([], {}) == 1  # SER_SERVICE unset
    assert "unknown service ''" in capsys.readouterr().err


def test_auto_mode_follows_the_role(probe: ModuleType, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(probe, "check_worker", lambda timeout_s: calls.append("worker") or True)
    monkeypatch.setattr(probe, "check_grpc", lambda port, timeout_s: calls.append(f"grpc:{port}") or False)
    assert probe.main([], {"SER_ROLE": "worker"}) == 0
    assert probe.main([], {"SER_ROLE": "service", "SER_SERVICE": "inference"}) == 1
    assert calls == ["worker", "grpc:50054"]


def test_the_http_api_is_probed_on_healthz(probe: ModuleType, capsys) -> None:
    """A real HTTP server on a free port: 200 on /healthz is healthy; another answer or nobody is not."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        status = 200

        def do_GET(self) -> None:  # noqa: N802
            paths.append(self.path)
            self.send_response(Handler.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"SER_SERVICE": "http", "SER_HTTP_PORT": str(server.server_address[1])}
    try:
        assert probe.main([], env) == 0 and paths == ["/healthz"]
        Handler.status = 503
        assert probe.main(["http"], env) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert probe.main(["--timeout", "0.5"], env) == 1  # nobody listens any more
    assert "unhealthy" in capsys.readouterr().err
