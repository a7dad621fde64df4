"""Bounds on a server's long-lived RPCs: per-group concurrency caps, idle timeouts and threads of their own.

A sync gRPC server runs each RPC on one thread of its pool for as long as the RPC lasts, and queues the
rest: a handful of event streams or uploads that never finish used to take every thread, and health checks
and short calls waited behind them. ``RpcLimits`` (a server interceptor) puts every streaming method into a
``Group`` with a cap:

- beyond its cap an RPC is refused at once, RESOURCE_EXHAUSTED ``overloaded`` (retryable), naming the
  setting that sets the cap;
- the server's pool gets ``threads`` more threads than SER_GRPC_WORKERS (``build_server`` adds them), one
  per slot of every group, so the admitted long-lived RPCs can never hold more threads than they brought:
  SER_GRPC_WORKERS threads always remain for unary calls and health checks;
- a request stream that sends nothing for ``idle_s`` seconds is ended DEADLINE_EXCEEDED (its thread freed);
- when a group with a request stream is full, a newcomer ends the member that has been waiting longest for
  its client's next message, if that is at least ``evict_after_s`` (RESOURCE_EXHAUSTED ``overloaded``), and
  takes its slot: idle uploads cannot keep a real one out.

Streaming methods no group names fall into ``OTHER_STREAMS`` (health Watch, server reflection), capped at
``OTHER_STREAMS_LIMIT``. Unary methods are not limited here (``services.common.budget`` bounds the large
ones).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from services.common.deadlines import RequestExpired
from shared.errors import Overloaded

OTHER_STREAMS = "other streams"
OTHER_STREAMS_LIMIT = 4
EVICT_AFTER_S = 2.0  # an upload waiting this long for its client's next message may make room for a newcomer
EVICT_WAIT_S = 5.0   # how long a newcomer waits for the member it ended to let go of its slot
READ_AHEAD = 4       # request messages read ahead of the handler (gRPC flow control holds the rest)


@dataclass(frozen=True)
class Group:
    """Methods (full names, ``/pkg.Service/Method``) that share one cap; ``setting`` names what sets it."""

    name: str
    limit: int
    setting: str
    methods: frozenset[str] = field(default_factory=frozenset)
    item: str = "stream"  # one member, in messages: "upload", "event stream"


class _Stream:
    """One admitted request stream, read by its own thread (so waiting for the client can time out)."""

    def __init__(self, source: Iterator[Any], idle_s: float, setting: str, what: str) -> None:
        self._source, self.idle_s, self._setting, self._what = source, idle_s, setting, what
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue(READ_AHEAD)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self.waiting_since: float | None = time.monotonic()  # None: not waiting on the client
        self.evicted_by = ""
        self._ended: BaseException | None = None

    def start(self) -> None:
        """Start reading (once admitted: a refused stream never starts a thread)."""
        self.waiting_since = time.monotonic()
        threading.Thread(target=self._read, name="rpc-request-reader", daemon=True).start()

    # -- the reader thread
    def _read(self) -> None:
        try:
            for item in self._source:
                with self._lock:
                    self.waiting_since = None
                if not self._put(("item", item)):
                    return
                with self._lock:
                    self.waiting_since = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - handed to the handler's thread
            self._put(("error", exc))
        else:
            self._put(("end", None))
        finally:
            with self._lock:
                self.waiting_since = None

    def _put(self, entry: tuple[str, Any]) -> bool:
        while not self._closed.is_set():
            try:
                self._items.put(entry, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    # -- the handler's thread
    def idle_for(self, now: float) -> float:
        with self._lock:
            return 0.0 if self.waiting_since is None else now - self.waiting_since

    def evict(self, reason: str) -> None:
        self.evicted_by = reason
        try:
            self._items.put_nowait(("evicted", None))
        except queue.Full:  # the handler has messages to read; it meets the flag after them
            pass

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._ended is not None:
            raise self._ended
        while True:
            if self.evicted_by:
                raise Overloaded(self.evicted_by)
            with self._lock:
                since = self.waiting_since
            wait = None if since is None else max(0.0, since + self.idle_s - time.monotonic())
            try:
                kind, value = self._items.get(timeout=wait)
            except queue.Empty:
                with self._lock:
                    still = self.waiting_since
                if still is not None and time.monotonic() - still >= self.idle_s:
                    raise RequestExpired(grpc.StatusCode.DEADLINE_EXCEEDED,
                                         f"the {self._what} sent nothing for {self.idle_s:g} s ({self._setting}); "
                                         "it is ended") from None
                continue
            if kind == "item":
                return value
            if kind == "end":
                self._ended = StopIteration()
                raise StopIteration
            if kind == "error":
                self._ended = value
                raise value
            # "evicted": loop to raise it

    def close(self) -> None:
        """The RPC is over: drop what was read ahead, and end the stream for anyone still reading it (the
        AnalyzeStream pump thread); the reader thread ends when gRPC ends the request iterator. A kept error
        goes too: its traceback holds the reader's frame, and so this stream and its last message."""
        self._closed.set()
        self._ended = StopIteration()
        while True:
            try:
                self._items.get_nowait()
            except queue.Empty:
                break
        try:
            self._items.put_nowait(("end", None))
        except queue.Full:  # the reader slipped one in after the drain; the next read still ends on _closed
            pass


class _Slots:
    """A group's slots: who holds them, and the condition a newcomer waits on."""

    def __init__(self, group: Group, evict_after_s: float) -> None:
        self.group, self.evict_after_s = group, evict_after_s
        self.members: set[object] = set()
        self.cond = threading.Condition()

    def enter(self, member: object) -> None:
        with self.cond:
            if len(self.members) < self.group.limit:
                self.members.add(member)
                return
            victim = self._idlest()
            if victim is None:
                raise Overloaded(f"{len(self.members)} {self.group.name} already open on this server, at most "
                                 f"{self.group.limit} ({self.group.setting}); try again later")
            victim.evict(f"ended to make room: this {self.group.item} had sent nothing for "
                         f"{victim.idle_for(time.monotonic()):.1f} s while all {self.group.limit} "
                         f"{self.group.name} ({self.group.setting}) were taken; send again")
            if not self.cond.wait_for(lambda: len(self.members) < self.group.limit, timeout=EVICT_WAIT_S):
                raise Overloaded(f"{len(self.members)} {self.group.name} already open on this server, at most "
                                 f"{self.group.limit} ({self.group.setting}); try again later")
            self.members.add(member)

    def _idlest(self) -> _Stream | None:
        now = time.monotonic()
        idle = [(m.idle_for(now), id(m), m) for m in self.members if isinstance(m, _Stream) and not m.evicted_by]
        if not idle:
            return None
        waited, _, stream = max(idle)
        return stream if waited >= self.evict_after_s else None

    def leave(self, member: object) -> None:
        with self.cond:
            self.members.discard(member)
            self.cond.notify_all()

    def __len__(self) -> int:
        with self.cond:
            return len(self.members)


class RpcLimits(grpc.ServerInterceptor):
    """Caps each group of streaming methods, and ends request streams idle for ``idle_s`` seconds."""

    def __init__(self, groups: Sequence[Group], *, idle_s: float, idle_setting: str = "SER_STREAM_IDLE_S",
                 other_limit: int = OTHER_STREAMS_LIMIT, evict_after_s: float = EVICT_AFTER_S) -> None:
        every = [*groups, Group(OTHER_STREAMS, other_limit, "fixed")]
        if len({g.name for g in every}) != len(every):
            raise ValueError(f"group names must differ: {[g.name for g in every]}")
        for group in every:
            if group.limit < 1:
                raise ValueError(f"{group.setting} must be at least 1, got {group.limit}")
        if idle_s <= 0:
            raise ValueError(f"{idle_setting} must be positive, got {idle_s:g}")
        self.idle_s, self._idle_setting = idle_s, idle_setting
        self._slots = {g.name: _Slots(g, evict_after_s) for g in every}
        self._by_method = {m: self._slots[g.name] for g in groups for m in g.methods}
        self._other = self._slots[OTHER_STREAMS]

    @property
    def threads(self) -> int:
        """Threads the admitted RPCs may hold at most: what the server adds to its pool for them."""
        return sum(s.group.limit for s in self._slots.values())

    def in_use(self, group: str) -> int:
        return len(self._slots[group])

    def groups(self) -> list[Group]:
        return [s.group for s in self._slots.values()]

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or not (handler.request_streaming or handler.response_streaming):
            return handler
        slots = self._by_method.get(handler_call_details.method, self._other)
        what = slots.group.item
        kwargs = {"request_deserializer": handler.request_deserializer,
                  "response_serializer": handler.response_serializer}
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._held(handler.unary_stream, slots, what), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._unary(handler.stream_unary, slots, what), **kwargs)
        return grpc.stream_stream_rpc_method_handler(self._held(handler.stream_stream, slots, what, True), **kwargs)

    def _stream(self, requests: Iterable[Any], what: str) -> _Stream:
        return _Stream(iter(requests), self.idle_s, self._idle_setting, what)

    def _unary(self, behavior: Callable[[Any, grpc.ServicerContext], Any], slots: _Slots, what: str) -> Callable:
        def wrapped(request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Any:
            stream = self._stream(request_iterator, what)
            try:
                slots.enter(stream)
                stream.start()
                try:
                    return behavior(stream, context)
                finally:
                    slots.leave(stream)
            finally:
                stream.close()

        return wrapped

    def _held(self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], slots: _Slots, what: str,
              request_streaming: bool = False) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            member: Any = self._stream(request, what) if request_streaming else object()
            try:
                slots.enter(member)
                if request_streaming:
                    member.start()
                try:
                    yield from behavior(member if request_streaming else request, context)
                finally:
                    slots.leave(member)
            finally:
                if request_streaming:
                    member.close()

        return wrapped
