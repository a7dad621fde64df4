"""Job records in Redis: the spec, state, progress and result of every job, apart from Celery's own meta.

Celery's result backend forgets a task's spec and keeps only its last state; a user needs both, and
needs to watch progress as it happens. So each job has a hash (``ser:job:<id>``) and an event stream
(``ser:job:<id>:events``) that ``watch`` tails with a blocking XREAD.
"""
from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import redis

from shared.errors import NotFound
from shared.settings import Settings


class JobState(StrEnum):
    """SUCCEEDED: every item succeeded. PARTIAL: some items failed (``result['failed']``), the rest are done.
    FAILED: no item succeeded, or the job itself failed (``error``). CANCELLED: stopped on request."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED)


def count(value: Any) -> int:
    """A result's item count: an int, or the length of a list of items."""
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, int) else len(value) if isinstance(value, (list, dict)) else 0


@dataclass
class Job:
    id: str
    kind: str
    spec: dict[str, Any]
    state: JobState = JobState.PENDING
    progress: float = 0.0
    message: str = ""
    done: int = 0
    total: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created: float = 0.0
    updated: float = 0.0
    attempts: int = 0
    cancel_requested: bool = False
    callback_url: str = ""  # signed POST on a final state (services.jobs.webhooks)
    labels: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""

    @property
    def items_failed(self) -> int:
        """Items that failed (batch files, training files skipped); 0 for jobs without items."""
        return count(self.result.get("failed"))

    @property
    def items_completed(self) -> int:
        return count(self.result.get("completed"))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d


_JSON_FIELDS = ("spec", "result", "labels")
_INT_FIELDS = ("done", "total", "attempts")
_FLOAT_FIELDS = ("progress", "created", "updated")


DEFAULT_RETENTION_S = 7 * 24 * 3600


def _number(raw: str | None) -> float:
    """A stored count or time as a finite number; 0 for anything else, so an odd field never breaks a read."""
    try:
        value = float(raw or 0.0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


class JobStore:
    """All job bookkeeping goes through here, so the CLI, the gateway and the workers agree."""

    prefix = "ser:job:"
    index_key = "ser:jobs"
    events_maxlen = 10000
    idempotency_ttl_s = 7 * 24 * 3600

    def __init__(self, client: redis.Redis, retention_s: float = DEFAULT_RETENTION_S) -> None:
        """``retention_s``: how long a finished job's record and events stay in Redis. Without a bound, a
        batch deployment (thousands of jobs a day) fills Redis's memory; results stay on disk."""
        self.r = client
        self.retention_s = max(1, int(retention_s))

    @classmethod
    def from_url(cls, url: str, retention_s: float = DEFAULT_RETENTION_S) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5),
                   retention_s)

    @classmethod
    def for_settings(cls, settings: Settings) -> JobStore:
        return cls.from_url(settings.redis_url, settings.job_retention_s)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}{job_id}"

    def _idempotency_key(self, key: str) -> str:
        return f"ser:job-idempotency:{key}"

    def claim(self, job_id: str, what: str) -> bool:
        """True the first time ``what`` is claimed for this job (e.g. sending its webhook), False after."""
        return bool(self.r.set(f"{self._key(job_id)}:claim:{what}", "1", nx=True, ex=self.idempotency_ttl_s))

    def unclaim(self, job_id: str, what: str) -> None:
        self.r.delete(f"{self._key(job_id)}:claim:{what}")

    def create(self, kind: str, spec: dict[str, Any], job_id: str | None = None, *, callback_url: str = "",
               labels: dict[str, str] | None = None, idempotency_key: str = "") -> Job:
        """A new PENDING job; with ``idempotency_key``, the job that key already created, if it still exists
        (its id then differs from ``job_id``)."""
        now = time.time()
        job = Job(id=job_id or uuid.uuid4().hex, kind=kind, spec=spec, created=now, updated=now,
                  callback_url=callback_url, labels=dict(labels or {}), idempotency_key=idempotency_key)
        if idempotency_key and not self.r.set(self._idempotency_key(idempotency_key), job.id, nx=True,
                                              ex=self.idempotency_ttl_s):
            existing = self.r.get(self._idempotency_key(idempotency_key))
            if existing and self.r.exists(self._key(existing)):
                return self.get(existing)
            self.r.set(self._idempotency_key(idempotency_key), job.id, ex=self.idempotency_ttl_s)
        self.r.hset(self._key(job.id), mapping=self._encode(job))
        self.r.zadd(self.index_key, {job.id: now})
        self.r.zremrangebyscore(self.index_key, "-inf", now - self.retention_s)  # records expired by now
        self._event(job.id, {"state": job.state.value, "message": "queued"})
        return job

    def get(self, job_id: str) -> Job:
        raw = self.r.hgetall(self._key(job_id))
        if not raw:
            raise NotFound(f"no job {job_id!r}")
        return self._decode(raw)

    def list(self, limit: int = 50, kind: str | None = None) -> list[Job]:
        ids = self.r.zrevrange(self.index_key, 0, max(limit * 4, limit) - 1)
        jobs = []
        for job_id in ids:
            raw = self.r.hgetall(self._key(job_id))
            if raw and (kind is None or raw.get("kind") == kind):
                jobs.append(self._decode(raw))
            if len(jobs) >= limit:
                break
        return jobs

    def update(self, job_id: str, **fields: Any) -> None:
        fields["updated"] = time.time()
        encoded = {k: self._encode_value(k, v) for k, v in fields.items()}
        self.r.hset(self._key(job_id), mapping=encoded)
        event = {k: v for k, v in fields.items() if k in ("state", "progress", "message", "done", "total", "error")}
        if event:
            self._event(job_id, {k: (v.value if isinstance(v, JobState) else v) for k, v in event.items()})
        state = fields.get("state")
        if isinstance(state, JobState):  # kept while it may still change, then for retention_s
            for key in (self._key(job_id), f"{self._key(job_id)}:events"):
                self.r.expire(key, self.retention_s) if state.finished else self.r.persist(key)

    def request_cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if not job.state.finished:
            self.r.hset(self._key(job_id), "cancel_requested", "1")
            self._event(job_id, {"message": "cancel requested"})
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        return self.r.hget(self._key(job_id), "cancel_requested") == "1"

    def acquire_lease(self, job_id: str, token: str, ttl_s: int) -> bool:
        """One worker runs a job at a time: a lease that lapses ``ttl_s`` after its holder stops renewing it."""
        return bool(self.r.set(f"{self._key(job_id)}:lease", token, nx=True, ex=ttl_s))

    def renew_lease(self, job_id: str, token: str, ttl_s: int) -> bool:
        key = f"{self._key(job_id)}:lease"
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) != token:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.expire(key, ttl_s)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def release_lease(self, job_id: str, token: str) -> None:
        key = f"{self._key(job_id)}:lease"
        if self.r.get(key) == token:
            self.r.delete(key)

    def watch(self, job_id: str, *, block_ms: int = 1000, timeout_s: float | None = None,
              heartbeat: bool = False) -> Iterator[dict[str, Any]]:
        """Yield events from the start of the job until it finishes (or ``timeout_s`` passes). ``heartbeat``:
        also an empty dict after each ``block_ms`` without events, so a server streaming them can check, at
        least that often, whether its client is still there."""
        self.get(job_id)
        last = "0-0"
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        stream = f"{self._key(job_id)}:events"
        while True:
            entries = self.r.xread({stream: last}, block=block_ms, count=100) or []
            for _, items in entries:
                for entry_id, data in items:
                    last = entry_id
                    yield {k: json.loads(v) for k, v in data.items()}
            job = self.get(job_id)
            if job.state.finished and not entries:
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            if heartbeat and not entries:
                yield {}

    def _event(self, job_id: str, data: dict[str, Any]) -> None:
        data = {"time": time.time(), **data}
        self.r.xadd(f"{self._key(job_id)}:events", {k: json.dumps(v) for k, v in data.items()},
                    maxlen=self.events_maxlen, approximate=True)

    @staticmethod
    def _encode_value(key: str, value: Any) -> str:
        if key in _JSON_FIELDS:
            return json.dumps(value)
        if isinstance(value, JobState):
            return value.value
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def _encode(self, job: Job) -> dict[str, str]:
        return {k: self._encode_value(k, getattr(job, k)) for k in job.__dataclass_fields__}

    @staticmethod
    def _decode(raw: dict[str, str]) -> Job:
        values: dict[str, Any] = dict(raw)
        for k in _JSON_FIELDS:
            values[k] = json.loads(values.get(k) or "{}")
        for k in _INT_FIELDS:
            values[k] = int(_number(values.get(k)))
        for k in _FLOAT_FIELDS:
            values[k] = _number(values.get(k))
        values["state"] = JobState(values.get("state", "PENDING"))
        values["cancel_requested"] = values.get("cancel_requested") == "1"
        return Job(**{k: v for k, v in values.items() if k in Job.__dataclass_fields__})
