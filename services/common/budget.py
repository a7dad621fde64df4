"""A bound on the bytes of large requests a server works on at once (SER_MAX_INFLIGHT_MB).

gRPC has already received a request when its handler runs, but the handler's copies (decoded
audio, resampled channels, features) are several times the payload. Each of the server's
``SER_GRPC_WORKERS`` threads may hold a 64 MiB request; without a bound, eight hostile uploads at
once make eight sets of copies, and glibc keeps the high-water mark. Here a large request waits
(up to its deadline, at most ``MAX_WAIT_S``) until the requests in hand leave room for it, and is
refused RESOURCE_EXHAUSTED ``overloaded`` (retryable) if they never do. When the last large
request finishes, freed heap pages go back to the system (``malloc_trim``), so the resident size
falls back instead of staying at the peak. Small requests (under ``LARGE_BYTES``) never wait.
"""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from shared.errors import Overloaded

LARGE_BYTES = 1 << 20
MAX_WAIT_S = 60.0


def _malloc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return lambda: None
    return lambda: trim(0)


class InflightBytes:
    """A byte budget: ``acquire`` blocks until there is room (a request over the whole budget takes all of it)."""

    def __init__(self, limit: int, on_idle: Callable[[], None] | None = None) -> None:
        self.limit, self.used = max(1, limit), 0
        self._cond = threading.Condition()
        self._on_idle = on_idle or _malloc_trim()

    def acquire(self, size: int, timeout_s: float) -> int:
        """Bytes taken (release them with ``release``); Overloaded when no room came within ``timeout_s``."""
        take = min(size, self.limit)
        with self._cond:
            if not self._cond.wait_for(lambda: self.used + take <= self.limit, timeout=max(0.0, timeout_s)):
                raise Overloaded(f"{self.used >> 20} MiB of large requests in progress (SER_MAX_INFLIGHT_MB="
                                 f"{self.limit >> 20}); try again")
            self.used += take
        return take

    def release(self, taken: int) -> None:
        with self._cond:
            self.used -= taken
            idle = self.used == 0
            self._cond.notify_all()
        if idle:
            self._on_idle()


class InflightInterceptor(grpc.ServerInterceptor):
    """Holds a large single-message request's size in ``budget`` while its handler runs."""

    def __init__(self, budget: InflightBytes) -> None:
        self.budget = budget

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        kwargs = {"request_deserializer": handler.request_deserializer,
                  "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary), **kwargs)
        return grpc.unary_stream_rpc_method_handler(self._stream(handler.unary_stream), **kwargs)

    def _take(self, request: Any, context: grpc.ServicerContext) -> int:
        size = request.ByteSize() if hasattr(request, "ByteSize") else 0
        if size < LARGE_BYTES:
            return 0
        remaining = context.time_remaining()
        return self.budget.acquire(size, MAX_WAIT_S if remaining is None else min(remaining, MAX_WAIT_S))

    def _unary(self, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            taken = self._take(request, context)
            try:
                return behavior(request, context)
            finally:
                if taken:
                    self.budget.release(taken)

        return wrapped

    def _stream(self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            taken = self._take(request, context)
            try:
                yield from behavior(request, context)
            finally:
                if taken:
                    self.budget.release(taken)

        return wrapped
