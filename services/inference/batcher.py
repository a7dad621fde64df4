"""Dynamic batching as in Triton: a bounded queue per model and one worker that merges requests.

The worker takes the first waiting request, then keeps collecting until ``max_batch_size``
requests are in hand or ``max_delay_s`` has passed since the first, runs the model once over all
their windows (in chunks of ``max_batch_size`` windows), and fans the rows back out through
futures. A full queue raises ``Overloaded`` at once, so callers never hang on a saturated model.
``close`` stops new submissions (``Retired``) and lets the worker drain what is queued, which is
how a model version is swapped out without dropping a request.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from shared.errors import Overloaded

log = logging.getLogger("ser.inference.batcher")
RunFn = Callable[[np.ndarray, np.ndarray | None, np.ndarray | None], np.ndarray]


class Retired(Exception):
    """The batcher was closed (its model version was swapped out); resolve the model again."""


@dataclass(frozen=True)
class BatchResult:
    probs: np.ndarray       # (windows of this request, classes)
    queue_s: float
    compute_s: float
    batch_size: int         # requests in the forward pass
    batch_windows: int


@dataclass(frozen=True)
class BatchStats:
    size: int
    windows: int
    compute_s: float
    queue_s: tuple[float, ...]


@dataclass
class _Work:
    x: np.ndarray
    speaker: np.ndarray | None
    bovw: np.ndarray | None
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    def __init__(self, run: RunFn, *, max_batch_size: int, max_delay_s: float, max_queue: int, name: str,
                 observe: Callable[[BatchStats], None] | None = None) -> None:
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.name = name
        self._observe = observe or (lambda stats: None)
        self._queue: queue.Queue[_Work] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, x: np.ndarray, speaker: np.ndarray | None = None, bovw: np.ndarray | None = None) -> Future:
        """Queue one request's windows; the future yields a ``BatchResult``."""
        work = _Work(x, speaker, bovw)
        with self._lock:
            if self._closed:
                raise Retired(self.name)
            try:
                self._queue.put_nowait(work)
            except queue.Full:
                raise Overloaded(f"model {self.name}: batching queue full ({self._queue.maxsize} waiting); "
                                 "retry later") from None
        return work.future

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _next(self, timeout: float) -> _Work | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _next_within(self, remaining: float) -> _Work | None:
        """A waiting request, waiting at most ``remaining`` s (none at all once the delay is spent)."""
        if remaining > 0:
            return self._next(remaining)
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _loop(self) -> None:
        while True:
            first = self._next(0.2)
            if first is None:
                with self._lock:
                    if self._closed and self._queue.empty():
                        return
                continue
            batch = [first]
            deadline = first.enqueued + self.max_delay_s
            while len(batch) < self.max_batch_size:
                item = self._next_within(deadline - time.perf_counter())
                if item is None:
                    break
                batch.append(item)
            self._execute(batch)

    def _execute(self, batch: list[_Work]) -> None:
        started = time.perf_counter()
        try:
            x = np.concatenate([w.x for w in batch])
            speaker = None if batch[0].speaker is None else np.concatenate([w.speaker for w in batch])
            bovw = None if batch[0].bovw is None else np.concatenate([w.bovw for w in batch])
            step = self.max_batch_size
            probs = np.concatenate([
                self._run(x[i : i + step], None if speaker is None else speaker[i : i + step],
                          None if bovw is None else bovw[i : i + step])
                for i in range(0, len(x), step)
            ])
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
            for w in batch:
                w.future.set_exception(exc)
            log.exception("batch of %d failed on %s", len(batch), self.name)
            return
        compute = time.perf_counter() - started
        queued = tuple(started - w.enqueued for w in batch)
        row = 0
        for w, q in zip(batch, queued, strict=True):
            n = len(w.x)
            w.future.set_result(BatchResult(probs[row : row + n], q, compute, len(batch), len(x)))
            row += n
        self._observe(BatchStats(len(batch), len(x), compute, queued))
