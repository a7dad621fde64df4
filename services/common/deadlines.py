"""Deadline and cancellation checks for servicer loops.

gRPC answers DEADLINE_EXCEEDED / CANCELLED to the client by itself, but the handler thread keeps
running until it looks. Servicers call ``ensure_active`` between units of work (a chunk, a
segment, a batch) so an abandoned request stops burning a worker thread.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import grpc

T = TypeVar("T")


class RequestExpired(Exception):
    """The RPC's deadline passed or the client cancelled; the error interceptor maps it to a status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.status_code = code


def remaining_s(context: grpc.ServicerContext) -> float | None:
    """Seconds left before the deadline, or None when the client set none."""
    remaining = context.time_remaining()
    if remaining is None or remaining > 1e9:  # grpc reports "no deadline" as None or a huge value
        return None
    return float(remaining)


def expired(context: grpc.ServicerContext, *, what: str = "request") -> RequestExpired | None:
    """The error for an RPC whose deadline passed or whose client went away, else None."""
    remaining = remaining_s(context)
    if remaining is not None and remaining <= 0.0:
        return RequestExpired(grpc.StatusCode.DEADLINE_EXCEEDED, f"deadline exceeded while processing the {what}")
    if not context.is_active():
        if remaining is not None and remaining <= 0.05:
            return RequestExpired(grpc.StatusCode.DEADLINE_EXCEEDED, f"deadline exceeded while processing the {what}")
        return RequestExpired(grpc.StatusCode.CANCELLED, f"client cancelled the {what}")
    return None


def ensure_active(context: grpc.ServicerContext, *, what: str = "request") -> None:
    """Raise RequestExpired when the deadline has passed or the client went away."""
    error = expired(context, what=what)
    if error is not None:
        raise error


def checked(items: Iterable[T], context: grpc.ServicerContext, *, what: str = "request") -> Iterator[T]:
    """Iterate ``items`` (e.g. a request stream), checking the deadline before each one."""
    for item in items:
        ensure_active(context, what=what)
        yield item
