"""The server interceptor every service gets: typed errors -> statuses, and one access-log line per RPC.

Both live in one wrapper because the log line needs the final status the error mapping decides.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from services.common.errors import abort_with, already_set

log = logging.getLogger("ser.rpc")

# probes and reflection are chatty; they log at DEBUG
_QUIET_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


# How a handler ended, for the access log. A name, not the exception: the exception's traceback holds
# the handler's frames, and so the request; kept in a local of the frame it passed through, it forms a
# reference cycle that pins every failed request's payload (60 MiB hostile uploads: ~2 GiB RSS) until the
# cyclic GC happens to run.
RAISED, CLIENT_GONE = "raised", "client_gone"


def _final_status(context: grpc.ServicerContext, ended: str) -> str:
    code = context.code()
    if code is not None:
        return code.name
    if ended:
        return "CANCELLED" if ended == CLIENT_GONE else "UNKNOWN"
    if not context.is_active():
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    return "OK"


class RpcInterceptor(grpc.ServerInterceptor):
    """Maps exceptions raised by any handler to statuses and logs method, status, latency and peer."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        level = logging.DEBUG if method.startswith(_QUIET_PREFIXES) else logging.INFO
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary, method, level), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._stream(handler.unary_stream, method, level), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._unary(handler.stream_unary, method, level), **kwargs)
        return grpc.stream_stream_rpc_method_handler(self._stream(handler.stream_stream, method, level), **kwargs)

    @staticmethod
    def _unary(behavior: Callable[[Any, grpc.ServicerContext], Any], method: str, level: int) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            ended = ""
            try:
                return behavior(request, context)
            except Exception as exc:
                ended = RAISED
                if already_set(context):
                    raise
                abort_with(exc, context, method)
            finally:
                _log_rpc(method, context, start, ended, level)

        return wrapped

    @staticmethod
    def _stream(behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: str, level: int) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            ended = ""
            try:
                yield from behavior(request, context)
            except Exception as exc:
                ended = RAISED
                if already_set(context):
                    raise
                abort_with(exc, context, method)
            except GeneratorExit:  # the client went away mid-stream
                ended = CLIENT_GONE
                raise
            finally:
                _log_rpc(method, context, start, ended, level)

        return wrapped


def _log_rpc(method: str, context: grpc.ServicerContext, start: float, ended: str, level: int) -> None:
    status = _final_status(context, ended)
    log.log(
        level,
        "rpc %s %s",
        method,
        status,
        extra={
            "method": method,
            "status": status,
            "latency_ms": round((time.perf_counter() - start) * 1000.0, 2),
            "peer": context.peer(),
        },
    )
