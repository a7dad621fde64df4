"""Submit, inspect, watch and cancel jobs: the one client the CLI and the gateway's Jobs API share."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celery import Celery

from services.jobs.specs import SPEC_TYPES, confine_spec, parse_spec
from services.jobs.store import Job, JobState, JobStore
from shared.errors import SpecError
from shared.paths import PathPolicy
from shared.settings import Settings

TASK_NAMES: dict[str, str] = {"segment_batch": "ser.segment_batch", "analyze_batch": "ser.analyze_batch",
                          "train": "ser.train", "evaluate": "ser.evaluate",
                          "fit_vocabulary": "ser.fit_vocabulary", "fit_speaker_pca": "ser.fit_speaker_pca"}


class JobClient:
    """``settings`` (default: this process's environment) decide what a submitted spec may read and write."""

    def __init__(self, app: Celery, store: JobStore, settings: Settings | None = None) -> None:
        self.app = app
        self.store = store
        self.paths = PathPolicy.from_settings(settings or Settings.from_env())

    def submit(self, kind: str, spec: dict[str, Any] | str) -> Job:
        """Validate first (fields, then every path the spec names), then store the spec as given, then queue:
        a queued job always has its spec, and a spec that reads or writes outside the roots is never queued.
        The worker checks the paths again against its own settings before it runs the job."""
        if kind not in TASK_NAMES:
            raise SpecError(f"unknown job kind {kind!r}; known: {sorted(TASK_NAMES)}")
        parsed = parse_spec(kind, spec)
        confine_spec(parsed, self.paths)
        job = self.store.create(kind, parsed.model_dump(mode="json"))
        self.app.send_task(TASK_NAMES[kind], args=[job.id], task_id=job.id)
        return job

    def get(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def list(self, limit: int = 50, kind: str | None = None) -> list[Job]:
        return self.store.list(limit=limit, kind=kind)

    def watch(self, job_id: str, timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
        return self.store.watch(job_id, timeout_s=timeout_s)

    def cancel(self, job_id: str) -> Job:
        """Cooperative: a running task stops at its next progress step; a queued one is revoked."""
        job = self.store.request_cancel(job_id)
        if job.state == JobState.PENDING:
            self.store.update(job_id, state=JobState.CANCELLED, message="cancelled before it started")
        self.app.control.revoke(job_id)
        return self.store.get(job_id)


def known_kinds() -> list[str]:
    return sorted(set(TASK_NAMES) & set(SPEC_TYPES))
