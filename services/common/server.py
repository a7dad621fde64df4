"""Build and run a gRPC server the same way for every service.

Every server gets: grpc health v1, server reflection, the configured message size limit, a thread
pool of ``settings.grpc_workers``, the error/access-log interceptor, TLS or mTLS when configured and
the bearer-token check when its token is set (``services.common.security``), a bound on the large
requests it works on at once (``services.common.budget``), capped malloc arenas, and a graceful stop. A server
given ``limits`` (``services.common.limits``: the gateway) caps its streaming RPCs by group and gets one more
thread per slot, so SER_GRPC_WORKERS threads always remain for its unary calls and health checks.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.budget import InflightBytes, InflightInterceptor
from services.common.interceptor import RpcInterceptor
from services.common.limits import RpcLimits
from services.common.runtime import bound_malloc_arenas
from services.common.security import auth_interceptors, server_credentials
from shared.settings import Settings

log = logging.getLogger("ser.server")

# keepalive pings from services.common.client every 30 s must not be refused as abusive
_KEEPALIVE_SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    # clients reconnect every 5 minutes (calls in flight finish first), so a client of `dns:///` names
    # re-resolves them and a replica added by the autoscaler gets its share of calls
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 5 * 3600 * 1000),
)


def server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        *_KEEPALIVE_SERVER_OPTIONS,
    ]


def bind_host(address: str) -> str:
    """Host to bind for a configured ``host:port``: an IP literal or localhost as given, else all interfaces.

    A DNS name (``preprocess:50051`` in Kubernetes) names this server for clients, not an interface.
    """
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "0.0.0.0"
    return host


def _port_of(address: str) -> int:
    try:
        return int(address.rsplit(":", 1)[1])
    except (IndexError, ValueError) as exc:
        raise ValueError(f"service address {address!r} is not host:port") from exc


def build_server(
    name: str,
    settings: Settings,
    register: Callable[[grpc.Server], None],
    *,
    port: int | None = None,
    health_services: Sequence[str],
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    limits: RpcLimits | None = None,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A bound, not yet started server for service ``name``.

    ``port=None`` uses the port of ``settings.address(name)``; ``port=0`` binds an ephemeral port.
    ``health_services`` are full service names (``ser.v1.Preprocess``); each, and the overall
    ``""`` service, is reported SERVING, and each is listed by reflection. The token check
    (``auth_interceptors``), the bound on large requests in progress (``services.common.budget``)
    and ``interceptors`` run inside the error/access-log one (so what they refuse is logged with its
    status); ``limits`` runs last, after the token check, and adds ``limits.threads`` to the pool.
    """
    address = settings.address(name)
    bound_malloc_arenas()  # before the RPC threads exist, so they share a few arenas
    workers = settings.grpc_workers + (limits.threads if limits is not None else 0)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{name}-rpc"),
        interceptors=[RpcInterceptor(), *auth_interceptors(name, settings),
                      InflightInterceptor(InflightBytes(settings.max_inflight_bytes)), *interceptors,
                      *([limits] if limits is not None else [])],
        options=server_options(settings),
    )
    register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*health_services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    host = bind_host(address)
    wanted = _port_of(address) if port is None else port
    target = f"[{host}]:{wanted}" if ":" in host else f"{host}:{wanted}"
    credentials = server_credentials(settings)
    bound = server.add_insecure_port(target) if credentials is None else server.add_secure_port(target, credentials)
    if bound == 0:
        raise OSError(f"{name}: could not bind {target}")
    for service in ("", *health_services):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return server, bound, health_servicer


def registrar(add_servicer: Callable[[Any, grpc.Server], None], servicer: Any) -> Callable[[grpc.Server], None]:
    """The ``register`` callback for a generated ``add_XServicer_to_server`` and its servicer."""
    return functools.partial(add_servicer, servicer)


def start_server(
    name: str,
    settings: Settings,
    register: Callable[[grpc.Server], None],
    *,
    port: int | None = None,
    health_services: Sequence[str],
) -> tuple[grpc.Server, int]:
    """A bound and started server (non-blocking); ``port=0`` binds an ephemeral port, returned with it."""
    server, bound, _health = build_server(name, settings, register, port=port, health_services=health_services)
    server.start()
    return server, bound


def stop_server(server: grpc.Server, health_servicer: health.HealthServicer, grace: float = 5.0) -> None:
    """Report NOT_SERVING, refuse new RPCs, let running ones finish for ``grace`` seconds."""
    health_servicer.enter_graceful_shutdown()
    # gRPC aborts RPCs still running after ``grace``, but the event also waits for their handler
    # threads; a handler blocked in user code must not hang shutdown forever.
    if not server.stop(grace).wait(grace + 5.0):
        log.warning("server did not stop within %.0f s; handler threads are still running", grace + 5.0)


def serve_forever(
    name: str,
    settings: Settings,
    register: Callable[[grpc.Server], None],
    *,
    port: int | None = None,
    health_services: Sequence[str],
    grace: float = 5.0,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    limits: RpcLimits | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully (what ``ser serve NAME`` runs)."""
    server, bound, health_servicer = build_server(
        name, settings, register, port=port, health_services=health_services, interceptors=interceptors,
        limits=limits,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("%s: signal %s, stopping with %.1f s grace", name, signal.Signals(signum).name, grace)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        log.info("%s listening on port %d", name, bound, extra={"service": name, "port": bound})
        stop.wait()
    finally:
        stop_server(server, health_servicer, grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("%s stopped", name, extra={"service": name})
