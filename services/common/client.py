"""Client channels with the platform's limits, keepalive, retries for idempotent calls, TLS and the bearer token.

``channel`` is the one place a client channel is built, so every client (the CLI, the workers' gateway
client, the gateway's downstream calls) authenticates the same way: to the gateway with
SER_GATEWAY_TOKEN, to preprocess, features, speaker and inference with SER_SERVICE_TOKEN.

Replicas: an address may name several servers, and every channel balances calls over them with gRPC's
``round_robin``: ``dns:///inference:50054`` (every address the name resolves to: a headless Service in
Kubernetes, re-resolved when a connection drops) or a comma list ``10.0.0.5:50054,10.0.0.6:50054``
(sent as an ``ipv4:`` target; host names in the list are resolved once, when the channel is built).
A call that fails UNAVAILABLE (its replica died or is unreachable) is retried by gRPC on the next
replica, with backoff, for the idempotent unary methods in ``IDEMPOTENT_METHODS`` only; streams are not
retried by the channel (see the gateway for the one it replays).
"""
from __future__ import annotations

import ipaddress
import json
import socket
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.security import channel_credentials, with_token
from shared.settings import Settings

# Calls that are safe to repeat: they read, or their effect does not depend on how often it runs.
IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    "ser.v1.Preprocess": ("Prepare",),
    "ser.v1.Features": ("ExtractLogMel", "ExtractImage", "ExtractBovw", "ExtractEgemaps", "BatchExtract"),
    "ser.v1.Speaker": ("Embed", "EmbedBatch"),
    "ser.v1.Emotion": ("Predict", "PredictBatch", "ListModels", "GetModel"),
    "ser.v1.CallAnalysis": ("AnalyzeCall",),
    "ser.v1.Jobs": ("GetJob", "WatchJob", "CancelJob", "ListJobs"),
    "grpc.health.v1.Health": ("Check",),
}

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config() -> str:
    """gRPC service config JSON: retry UNAVAILABLE with exponential backoff on idempotent methods only."""
    names = [
        {"service": service, "method": method}
        for service, methods in IDEMPOTENT_METHODS.items()
        for method in methods
    ]
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}],
                       "methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}]})


def _ipv4(address: str) -> str:
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"replica address {address!r} is not host:port")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        host = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    return f"{host}:{port}"


def client_target(address: str) -> str:
    """The gRPC target for a service address: a comma list of replicas as an ``ipv4:`` target; anything
    else (``host:port``, ``dns:///name:port``) as given."""
    if "," not in address:
        return address
    return "ipv4:" + ",".join(_ipv4(a) for a in address.split(",") if a.strip())


def channel_options(settings: Settings) -> list[tuple[str, object]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config()),
    ]


def channel(address: str, settings: Settings, *, service: str = "gateway", token: str | None = None) -> grpc.Channel:
    """A channel to the ``service`` at ``address`` (``host:port``, or several replicas: see above): TLS (mTLS with a client certificate) when SER_TLS_* are
    set, plaintext otherwise. Every call carries ``authorization: Bearer <token>`` with the token that
    service requires (``settings.token_for``: SER_GATEWAY_TOKEN for the gateway, SER_SERVICE_TOKEN for
    the others), or ``token`` when given; nothing when it is empty."""
    return with_token(_open(grpc, address, settings), settings.token_for(service) if token is None else token)


def aio_channel(address: str, settings: Settings) -> grpc.aio.Channel:
    """An asyncio channel to ``address``, with the target, TLS and options ``channel`` uses; no interceptor
    wraps it, so its calls pass their token as metadata (``bearer_metadata``)."""
    return _open(grpc.aio, address, settings)


def _open(api: Any, address: str, settings: Settings) -> Any:
    """``api.insecure_channel`` / ``api.secure_channel`` (``grpc`` or ``grpc.aio``) for ``address``."""
    credentials, options, target = channel_credentials(settings), channel_options(settings), client_target(address)
    return (api.insecure_channel(target, options=options) if credentials is None
            else api.secure_channel(target, credentials, options=options))


def wait_healthy(
    address: str,
    timeout: float,
    *,
    service: str = "",
    settings: Settings | None = None,
) -> None:
    """Block until grpc health reports SERVING for ``service`` at ``address``; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last: str = "no answer"
    with channel(address, settings or Settings.from_env(), token="") as ch:  # health checks need no token
        stub = health_pb2_grpc.HealthStub(ch)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{address} not healthy after {timeout:.1f} s ({last})")
            try:
                reply = stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=min(1.0, remaining), wait_for_ready=True
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as exc:
                last = f"{exc.code().name}: {exc.details()}"
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
