#!/usr/bin/env python3
"""Container health probe: gRPC health v1 for a service, GET /healthz for the HTTP API, a Celery ping for a worker.

The Dockerfile HEALTHCHECK and compose run it with no arguments (``auto``: the role comes from
SER_ROLE and SER_SERVICE, as in entrypoint.sh). Kubernetes probes services natively over gRPC (the
HTTP API over HTTP) and runs ``healthcheck.py worker`` as the workers' exec probe. Exit status 0
means healthy, 1 not.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence

from shared.settings import SERVICE_PORTS


def grpc_port(service: str, env: Mapping[str, str]) -> int:
    """The port this container's server listens on: that of SER_<NAME>_ADDR, else the default."""
    if service not in SERVICE_PORTS:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(sorted(SERVICE_PORTS))}")
    address = env.get(f"SER_{service.upper()}_ADDR", "")
    try:
        return int(address.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return SERVICE_PORTS[service]


def check_grpc(port: int, timeout_s: float) -> bool:
    """True when the overall health service ("") on localhost:port answers SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.RpcError as exc:
            print(f"unhealthy: gRPC health on port {port}: {exc.code().name}", file=sys.stderr)
            return False
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"unhealthy: port {port} reports {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}",
              file=sys.stderr)
        return False
    return True


def check_http(env: Mapping[str, str], timeout_s: float) -> bool:
    """True when the HTTP API on this container's SER_HTTP_PORT answers GET /healthz with 200."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{env.get('SER_HTTP_PORT') or 8080}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 - a fixed local URL
            if reply.status == 200:
                return True
            print(f"unhealthy: {url} answered {reply.status}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    return False


def check_worker(timeout_s: float) -> bool:
    """True when this host's Celery worker (default node name celery@HOSTNAME) answers a ping."""
    from services.jobs.app import app

    node = f"celery@{socket.gethostname()}"
    try:
        replies = app.control.ping(destination=[node], timeout=timeout_s)
    except Exception as exc:  # broker unreachable: report it, do not crash the probe
        print(f"unhealthy: cannot ping {node}: {exc}", file=sys.stderr)
        return False
    if not any(node in reply for reply in replies):
        print(f"unhealthy: {node} did not answer a ping within {timeout_s} s", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=["auto", "grpc", "http", "worker"], default="auto")
    parser.add_argument("--service", default=env.get("SER_SERVICE", ""), help="service name (default: $SER_SERVICE)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    args = parser.parse_args(argv)
    mode = args.mode
    if mode == "auto":
        mode = ("worker" if env.get("SER_ROLE", "service") == "worker"
                else "http" if args.service == "http" else "grpc")
    if mode == "worker":
        return 0 if check_worker(args.timeout) else 1
    if mode == "http":
        return 0 if check_http(env, args.timeout) else 1
    try:
        port = grpc_port(args.service, env)
    except ValueError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if check_grpc(port, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
