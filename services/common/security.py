"""Transport security and caller authentication for every gRPC server and client.

- TLS: a server with SER_TLS_CERT + SER_TLS_KEY serves TLS; with SER_TLS_CA as well it is mTLS
  (clients must present a certificate that CA signed). A client verifies servers against
  SER_TLS_CA (system roots when unset) and presents SER_TLS_CERT/KEY when both are set. One file
  set per process serves both roles, which is how the gateway talks to its downstream services.
- Bearer tokens: the gateway requires SER_GATEWAY_TOKEN, preprocess, features, speaker and inference
  require SER_SERVICE_TOKEN (sent by the gateway and the workers), when set. Callers send
  ``authorization: Bearer <token>`` (``services.common.client.channel`` does, for every client);
  health checks stay open so probes work without it.
- ``mask_url`` hides the password of a Redis URL wherever one is printed or logged.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc

from shared.errors import SpecError
from shared.settings import Settings

AUTH_METADATA_KEY = "authorization"
# the only RPCs callers may make without the token: liveness and readiness probes
OPEN_METHOD_PREFIXES: tuple[str, ...] = ("/grpc.health.v1.Health/",)


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the TLS {what} at {path}: {exc}") from exc


def tls_enabled(settings: Settings) -> bool:
    """True when this process should speak TLS, as a server and as a client."""
    return bool(settings.tls_cert or settings.tls_key or settings.tls_ca)


def _cert_and_key(settings: Settings) -> tuple[bytes, bytes] | None:
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SpecError("TLS needs both SER_TLS_CERT and SER_TLS_KEY (a certificate and its private key), or neither")
    if not settings.tls_cert:
        return None
    return _read(settings.tls_cert, "certificate"), _read(settings.tls_key, "private key")  # type: ignore[return-value]


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials for a server (client certificates required when a CA is set); None for plaintext."""
    pair = _cert_and_key(settings)
    if pair is None:
        if settings.tls_ca:
            raise SpecError("SER_TLS_CA is set but a server needs SER_TLS_CERT and SER_TLS_KEY to serve TLS")
        return None
    ca = _read(settings.tls_ca, "CA certificate")
    return grpc.ssl_server_credentials([(pair[1], pair[0])], root_certificates=ca, require_client_auth=ca is not None)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials for a client channel (presenting our certificate when we have one); None for plaintext."""
    if not tls_enabled(settings):
        return None
    pair = _cert_and_key(settings)
    ca = _read(settings.tls_ca, "CA certificate")
    if pair is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=pair[1], certificate_chain=pair[0])


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata that authenticates to a gateway configured with ``token``."""
    return ((AUTH_METADATA_KEY, f"Bearer {token}"),) if token else ()


def _presented_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> bytes:
    for key, value in metadata or ():
        if key == AUTH_METADATA_KEY:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip().encode()
    return b""


def _denying_handler(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that answers UNAUTHENTICATED without running it."""

    def deny(_request: object, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kwargs = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(deny, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    return grpc.stream_stream_rpc_method_handler(deny, **kwargs)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses every RPC but health checks unless it carries ``authorization: Bearer <token>``.

    Placed after the error/access-log interceptor, so refused calls are logged with their status.
    """

    def __init__(self, token: str) -> None:
        if not token:
            raise SpecError("a bearer-token interceptor needs a non-empty token")
        self._token = token.encode()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        presented = _presented_token(handler_call_details.invocation_metadata)
        if presented and hmac.compare_digest(presented, self._token):
            return handler
        reason = "invalid bearer token" if presented else "missing `authorization: Bearer <token>` metadata"
        return _denying_handler(handler, reason)


def auth_interceptors(service: str, settings: Settings) -> list[grpc.ServerInterceptor]:
    """The token check of server ``service`` when its token is set (``settings.token_for``), else none."""
    token = settings.token_for(service)
    return [BearerTokenInterceptor(token)] if token else []


class _MetadataInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                           grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds fixed metadata (the bearer token) to every call of a channel."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details.method, details.timeout, (*(details.metadata or ()), *self._metadata),
                            details.credentials, details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression) -> None:
        self.method, self.timeout, self.metadata = method, timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = credentials, wait_for_ready, compression


def with_token(ch: grpc.Channel, token: str) -> grpc.Channel:
    """``ch`` sending ``authorization: Bearer <token>`` on every call (unchanged for an empty token)."""
    return grpc.intercept_channel(ch, _MetadataInterceptor(bearer_metadata(token))) if token else ch


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (``redis://:pw@host:6379/0`` -> ``redis://:***@host:6379/0``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
