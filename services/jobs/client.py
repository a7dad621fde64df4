"""Submit, inspect, watch and cancel jobs: the one client the CLI and the gateway's Jobs API share."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from celery import Celery

from services.jobs.specs import SPEC_TYPES, confine_spec, parse_spec
from services.jobs.store import Job, JobState, JobStore
from services.jobs.webhooks import check_callback_url, notify_finished
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
        self.settings = settings or Settings.from_env()
        self.paths = PathPolicy.from_settings(self.settings)

    def submit(self, kind: str, spec: dict[str, Any] | str, *, callback_url: str = "",
               labels: dict[str, str] | None = None, idempotency_key: str = "") -> Job:
        """Validate first (fields, every path the spec names, the callback URL), then store the spec as given,
        then queue: a queued job always has its spec, and a spec that reads or writes outside the roots is
        never queued. The worker checks the paths again against its own settings before it runs the job.
        A repeated ``idempotency_key`` returns the job it first created and queues nothing."""
        if kind not in TASK_NAMES:
            raise SpecError(f"unknown job kind {kind!r}; known: {sorted(TASK_NAMES)}")
        parsed = parse_spec(kind, spec)
        confine_spec(parsed, self.paths)
        check_submit_options(labels or {}, idempotency_key)
        if callback_url:
            check_callback_url(callback_url, self.settings)
        job_id = uuid.uuid4().hex
        job = self.store.create(kind, parsed.model_dump(mode="json"), job_id, callback_url=callback_url,
                                labels=labels, idempotency_key=idempotency_key)
        if job.id == job_id:
            self.app.send_task(TASK_NAMES[kind], args=[job.id], task_id=job.id)
        return job

    def get(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def list(self, limit: int = 50, kind: str | None = None) -> list[Job]:
        return self.store.list(limit=limit, kind=kind)

    def watch(self, job_id: str, timeout_s: float | None = None, *, heartbeat: bool = False
              ) -> Iterator[dict[str, Any]]:
        return self.store.watch(job_id, timeout_s=timeout_s, heartbeat=heartbeat)

    def cancel(self, job_id: str) -> Job:
        """Cooperative: a running task stops at its next progress step; a queued one is revoked."""
        job = self.store.request_cancel(job_id)
        if job.state == JobState.PENDING:
            self.store.update(job_id, state=JobState.CANCELLED, message="cancelled before it started")
            notify_finished(self.store, job_id, self.app.send_task)
        self.app.control.revoke(job_id)
        return self.store.get(job_id)


MAX_LABELS, MAX_LABEL_KEY, MAX_LABEL_VALUE, MAX_IDEMPOTENCY_KEY = 32, 63, 256, 256


def check_submit_options(labels: dict[str, str], idempotency_key: str) -> None:
    """Labels and idempotency keys are stored with the job and echoed everywhere: bounded, so a submit
    cannot grow a job record without limit (SpecError otherwise)."""
    if len(labels) > MAX_LABELS:
        raise SpecError(f"at most {MAX_LABELS} labels, got {len(labels)}")
    for key, value in labels.items():
        if not key or len(key) > MAX_LABEL_KEY or len(value) > MAX_LABEL_VALUE:
            raise SpecError(f"label {key[:MAX_LABEL_KEY]!r}: keys are 1-{MAX_LABEL_KEY} characters, "
                            f"values at most {MAX_LABEL_VALUE}")
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise SpecError(f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY} characters")


def known_kinds() -> list[str]:
    return sorted(set(TASK_NAMES) & set(SPEC_TYPES))
