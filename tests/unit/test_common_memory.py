"""Issue 13, finding 11 in the small: what held failed requests' payloads, and the bound on large requests."""
from __future__ import annotations

import gc
import threading
import time
import weakref

import grpc
import pytest

from services.common.budget import LARGE_BYTES, InflightBytes, InflightInterceptor
from services.common.interceptor import RpcInterceptor
from shared.errors import InvalidInput, Overloaded


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self) -> None:
        self._code = None

    def code(self):
        return self._code

    def abort(self, code, details):
        self._code = code
        raise Aborted(details)

    def set_trailing_metadata(self, metadata):
        pass

    def is_active(self):
        return True

    def time_remaining(self):
        return 5.0

    def peer(self):
        return "test"


class Payload:
    """Stands in for a large request message (a plain object, so a weak reference can watch it)."""

    def __init__(self, size: int = 0) -> None:
        self.size = size

    def ByteSize(self) -> int:  # noqa: N802 - the protobuf method name
        return self.size


def failing(request, context):
    raise InvalidInput("not audio")


def test_a_failed_request_is_freed_at_once_not_left_to_the_cyclic_gc():
    wrapped = RpcInterceptor._unary(failing, "/ser.v1.Preprocess/Prepare", 10)
    request = Payload()
    watch = weakref.ref(request)
    gc.disable()
    try:
        with pytest.raises(Aborted):
            wrapped(request, FakeContext())
        del request
        assert watch() is None, "the request is still referenced (a cycle through the saved exception)"
    finally:
        gc.enable()


def test_the_budget_lets_large_requests_wait_for_room_and_refuses_when_none_comes():
    trims = []
    budget = InflightBytes(100, on_idle=lambda: trims.append(1))
    first = budget.acquire(60, timeout_s=1)
    with pytest.raises(Overloaded, match="SER_MAX_INFLIGHT_MB"):
        budget.acquire(60, timeout_s=0.05)
    released = threading.Timer(0.1, budget.release, args=(first,))
    released.start()
    started = time.monotonic()
    second = budget.acquire(60, timeout_s=5)  # waits for the first to finish
    assert 0.05 < time.monotonic() - started < 5 and trims == [1]
    budget.release(second)
    assert budget.acquire(10_000, timeout_s=0) == 100  # over the whole budget: takes all of it, alone
    budget.release(100)
    assert trims == [1, 1, 1] and budget.used == 0


def test_the_interceptor_holds_only_large_requests_and_releases_on_errors():
    budget = InflightBytes(LARGE_BYTES * 2, on_idle=lambda: None)
    seen = []
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: seen.append(budget.used) or "ok")
    wrapped = InflightInterceptor(budget).intercept_service(lambda details: handler, None)
    assert wrapped.unary_unary(Payload(10), FakeContext()) == "ok"
    assert wrapped.unary_unary(Payload(LARGE_BYTES + 1), FakeContext()) == "ok"
    assert seen == [0, LARGE_BYTES + 1] and budget.used == 0
    boom = grpc.unary_unary_rpc_method_handler(failing)
    with pytest.raises(InvalidInput):
        InflightInterceptor(budget).intercept_service(lambda details: boom, None).unary_unary(
            Payload(LARGE_BYTES), FakeContext())
    assert budget.used == 0
