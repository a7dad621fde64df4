"""Request iterators and replies of the gateway's downstream streams, with the request side's errors kept.

gRPC swallows an exception raised by a request iterator and reports a bare CANCELLED; ``guarded``
keeps it, and ``drain`` (or the caller) raises it in place of the status it caused.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import grpc

T = TypeVar("T")


def guarded(items: Iterator[T], failed: list[Exception], cancel: Sequence[Callable[[], object]] = ()) -> Iterator[T]:
    """A request iterator for a downstream stream: an exception ends the stream and is kept in ``failed``
    (gRPC would swallow it and report a bare CANCELLED); ``cancel`` (the stream's own cancel, once it
    exists) then stops the downstream work, which would otherwise answer the part it got."""
    try:
        yield from items
    except Exception as exc:  # noqa: BLE001 - re-raised by drain
        failed.append(exc)
        for stop in cancel:
            stop()


def drained(replies: Iterable[T], failed: list[Exception]) -> Iterator[T]:
    """The replies of a downstream stream as they come; the request side's own error wins over the status
    it caused."""
    try:
        yield from replies
    except grpc.RpcError:
        if failed:
            raise failed[0] from None
        raise
    if failed:
        raise failed[0]


def drain(replies: Iterable[T], failed: list[Exception]) -> list[T]:
    """Every reply of a downstream stream (``drained``, collected)."""
    return list(drained(replies, failed))
