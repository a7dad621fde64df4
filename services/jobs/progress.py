"""Running a job: state transitions, progress, cooperative cancellation, and errors kept with the job."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from services.jobs.specs import confine_spec, parse_spec
from services.jobs.store import Job, JobState, JobStore, count
from shared.errors import SerError
from shared.paths import PathPolicy
from shared.settings import Settings

log = logging.getLogger(__name__)
# the job store (Redis) went away: nothing can be recorded, so the job is neither failed nor finished
STORE_ERRORS = (redis.ConnectionError, redis.TimeoutError)
STORE_OUTAGE_S = 300.0  # how long a running job waits for Redis to come back (a restart) before giving up


class JobFailed(Exception):
    """What a Celery task raises when its job failed: the error as recorded (secrets masked), without the
    original exception, whose text Celery would log and keep in its result backend."""


class JobCancelled(Exception):
    """Raised inside a task when the user asked to cancel; the job ends CANCELLED, partial results kept."""


class JobContext:
    """What a task body sees: its job record, its spec with every path checked (``spec``, set by
    ``run_task``), the path rule for what the spec's manifests and corpora list (``paths``), a progress
    reporter and a cancel check. A body over items puts ``completed`` and ``failed`` counts (and
    ``errors``, the first few as text) in its result; they decide SUCCEEDED, PARTIAL or FAILED."""

    def __init__(self, store: JobStore, job: Job, task: Any | None = None) -> None:
        self.store = store
        self.job = job
        self.task = task
        self.result: dict[str, Any] = {}
        self.spec: Any = None
        self.paths = PathPolicy()

    def progress(self, done: int, total: int, message: str = "", **meta: Any) -> None:
        """Record ``done`` of ``total`` steps; counts are kept in 0 <= done <= total (when total is known)."""
        total = max(0, total)
        done = max(0, min(done, total) if total else done)
        fraction = 0.0 if total <= 0 else min(1.0, done / total)
        self.store.update(self.job.id, progress=fraction, done=done, total=total, message=message)
        if self.task is not None and getattr(self.task.request, "id", None):
            self.task.update_state(state="PROGRESS", meta={"done": done, "total": total, "progress": fraction,
                                                           "message": message, **meta})
        self.check_cancel()

    def check_cancel(self) -> None:
        if self.store.cancel_requested(self.job.id):
            raise JobCancelled(f"job {self.job.id} cancelled")


class Lease:
    """Holds a job's lease while it runs, renewing it from a daemon thread.

    A message redelivered while its first worker is still alive (Redis redelivers unacked messages
    after the visibility timeout) waits here instead of running the job twice; if the first worker
    died, its lease lapses within ``ttl_s`` and the redelivery takes over and resumes.
    """

    def __init__(self, store: JobStore, job_id: str, ttl_s: int = 30) -> None:
        self.store, self.job_id, self.ttl_s = store, job_id, ttl_s
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, poll_s: float = 2.0) -> bool:
        """True once held; False if the job finished while we waited for another holder."""
        while not self.store.acquire_lease(self.job_id, self.token, self.ttl_s):
            if self.store.get(self.job_id).state.finished:
                return False
            time.sleep(poll_s)
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.job_id[:8]}", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.store.renew_lease(self.job_id, self.token, self.ttl_s):
                    log.error("lost the lease of job %s", self.job_id)
                    return
            except Exception:  # a Redis blip: try again next tick; the lease outlives one missed renewal
                log.warning("could not renew the lease of job %s", self.job_id, exc_info=True)

    def reclaim(self) -> bool:
        """After a job-store outage: True if the lease is (again) ours, False if another worker took over."""
        if not (self.store.renew_lease(self.job_id, self.token, self.ttl_s)
                or self.store.acquire_lease(self.job_id, self.token, self.ttl_s)):
            return False
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._renew, name=f"lease-{self.job_id[:8]}", daemon=True)
            self._thread.start()
        return True

    def release(self) -> None:
        self._stop.set()
        try:
            self.store.release_lease(self.job_id, self.token)
        except Exception:
            log.warning("could not release the lease of job %s", self.job_id, exc_info=True)


def execute_job(store: JobStore, job_id: str, task: Any | None, body: Callable[[JobContext], dict[str, Any]],
                *, redact: Callable[[str], str] = str) -> dict[str, Any]:
    """Run ``body`` under the job's lease and record its outcome; the one way every task runs.

    A delivery of a job that already finished (or finishes while we wait for another holder's
    lease) runs nothing and returns the recorded result. If Redis goes away mid-job (a restart), the
    job waits for it and resumes in place: its Celery message may be gone with the connection, so
    giving up here would leave the job RUNNING with nobody working on it. ``redact`` scrubs secrets from
    what is recorded of an error.
    """
    if store.get(job_id).state.finished:
        return store.get(job_id).result
    lease = Lease(store, job_id, int(os.environ.get("SER_JOB_LEASE_S", "30")))
    if not lease.acquire():
        return store.get(job_id).result
    try:
        while True:
            try:
                with run_job(store, job_id, task, redact=redact) as ctx:
                    outcome = body(ctx)  # body may rebind ctx.result, so read it only afterwards
                    ctx.result.update(outcome)
                return store.get(job_id).result
            except STORE_ERRORS as exc:
                log.warning("job %s: the job store is unreachable (%s); waiting up to %.0f s to resume",
                            job_id, exc, STORE_OUTAGE_S)
                if not wait_for_store(store, STORE_OUTAGE_S):
                    raise
                if not lease.reclaim():
                    log.warning("job %s: another worker took over during the outage", job_id)
                    return {}
    finally:
        lease.release()


def wait_for_store(store: JobStore, timeout_s: float, poll_s: float = 1.0) -> bool:
    """True once Redis answers again, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if store.r.ping():
                return True
        except STORE_ERRORS:
            pass
        time.sleep(poll_s)
    return False


def run_task(task: Any, job_id: str, body: Callable[[JobContext, Settings], dict[str, Any]]) -> dict[str, Any]:
    """What every Celery task does: read the settings from the environment, check every path the job's
    spec names against them (``confine_spec``; a refusal fails the job before the body reads anything),
    hand the body the checked spec, and record the outcome with secrets scrubbed (``execute_job``)."""
    settings = Settings.from_env()
    paths = PathPolicy.from_settings(settings)

    def checked(ctx: JobContext) -> dict[str, Any]:
        ctx.paths = paths
        ctx.spec = confine_spec(parse_spec(ctx.job.kind, ctx.job.spec), paths)
        return body(ctx, settings)

    store = JobStore.for_settings(settings)
    try:
        return execute_job(store, job_id, task, checked, redact=settings.redact)
    except Exception as exc:  # noqa: BLE001 - recorded with the job already; Celery gets a masked copy
        raise JobFailed(settings.redact(f"{type(exc).__name__}: {exc}")) from None
    finally:
        _notify(store, job_id, task)


def _notify(store: JobStore, job_id: str, task: Any) -> None:
    """The job's webhook, queued once it is final (also on a redelivery of a job already final, in case the
    first worker died before queueing it). Never fails the job: its result is recorded already."""
    from services.jobs.webhooks import notify_finished

    try:
        notify_finished(store, job_id, task.app.send_task)
    except Exception:  # noqa: BLE001 - a store or broker outage; the result stays retrievable by GetJob
        log.warning("job %s: could not queue its webhook", job_id, exc_info=True)


def outcome(result: dict[str, Any]) -> tuple[JobState, str, str]:
    """(state, message, error) of a job whose body returned ``result``: SUCCEEDED when no item failed,
    PARTIAL when some did, FAILED when every one did."""
    failed = count(result.get("failed"))
    if not failed:
        return JobState.SUCCEEDED, "done", ""
    completed = count(result.get("completed"))
    total = failed + completed
    if completed:
        return JobState.PARTIAL, f"done, {failed} of {total} items failed", ""
    first = (result.get("errors") or [""])[0]
    return JobState.FAILED, "failed", f"items_failed: all {failed} items failed" + (f"; first: {first}" if first else "")


@contextmanager
def run_job(store: JobStore, job_id: str, task: Any | None = None, *,
            redact: Callable[[str], str] = str) -> Iterator[JobContext]:
    """Mark the job running; on exit record SUCCEEDED, PARTIAL, FAILED or CANCELLED with ``ctx.result``."""
    job = store.get(job_id)
    attempts = job.attempts + 1
    state = JobState.RUNNING if attempts == 1 else JobState.RETRYING
    store.update(job_id, state=state, attempts=attempts,
                 message="started" if attempts == 1 else f"resumed (attempt {attempts})")
    ctx = JobContext(store, store.get(job_id), task)
    try:
        ctx.check_cancel()
        yield ctx
    except JobCancelled as exc:
        store.update(job_id, state=JobState.CANCELLED, message=str(exc), result=ctx.result)
        return
    except STORE_ERRORS:
        raise  # nothing can be recorded; execute_job waits for the store and resumes
    except SerError as exc:
        store.update(job_id, state=JobState.FAILED, error=redact(f"{exc.code}: {exc}"), message="failed",
                     result=ctx.result)
        raise
    except Exception as exc:
        trace = redact(traceback.format_exc())  # library errors may quote anything, the environment included
        log.error("job %s failed\n%s", job_id, trace)
        store.update(job_id, state=JobState.FAILED, error=redact(f"internal: {type(exc).__name__}: {exc}"),
                     message="failed", result={**ctx.result, "traceback": redact(traceback.format_exc(limit=5))})
        raise
    state, message, error = outcome(ctx.result)
    store.update(job_id, state=state, progress=1.0, message=message, result=ctx.result,
                 **({"error": redact(error)} if error else {}))
