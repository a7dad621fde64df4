"""Running a job: state transitions, progress, cooperative cancellation, and errors kept with the job."""
from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.errors import SerError
from services.jobs.store import Job, JobState, JobStore

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a task when the user asked to cancel; the job ends CANCELLED, partial results kept."""


class JobContext:
    """What a task body sees: its job record, a progress reporter and a cancel check."""

    def __init__(self, store: JobStore, job: Job, task: Any | None = None) -> None:
        self.store = store
        self.job = job
        self.task = task

    def progress(self, done: int, total: int, message: str = "", **meta: Any) -> None:
        fraction = 0.0 if total <= 0 else min(1.0, done / total)
        self.store.update(self.job.id, progress=fraction, done=done, total=total, message=message)
        if self.task is not None and getattr(self.task.request, "id", None):
            self.task.update_state(state="PROGRESS", meta={"done": done, "total": total, "progress": fraction,
                                                           "message": message, **meta})
        self.check_cancel()

    def check_cancel(self) -> None:
        if self.store.cancel_requested(self.job.id):
            raise JobCancelled(f"job {self.job.id} cancelled")


@contextmanager
def run_job(store: JobStore, job_id: str, task: Any | None = None) -> Iterator[JobContext]:
    """Mark the job running; on exit record SUCCEEDED (the caller sets ``ctx.result``), FAILED or CANCELLED."""
    job = store.get(job_id)
    attempts = job.attempts + 1
    state = JobState.RUNNING if attempts == 1 else JobState.RETRYING
    store.update(job_id, state=state, attempts=attempts,
                 message="started" if attempts == 1 else f"resumed (attempt {attempts})")
    ctx = JobContext(store, store.get(job_id), task)
    ctx.result: dict[str, Any] = {}
    try:
        ctx.check_cancel()
        yield ctx
    except JobCancelled as exc:
        store.update(job_id, state=JobState.CANCELLED, message=str(exc), result=ctx.result)
        return
    except SerError as exc:
        store.update(job_id, state=JobState.FAILED, error=f"{exc.code}: {exc}", message="failed", result=ctx.result)
        raise
    except Exception as exc:
        log.exception("job %s failed", job_id)
        store.update(job_id, state=JobState.FAILED, error=f"internal: {type(exc).__name__}: {exc}",
                     message="failed", result={**ctx.result, "traceback": traceback.format_exc(limit=5)})
        raise
    store.update(job_id, state=JobState.SUCCEEDED, progress=1.0, message="done", result=ctx.result)
