"""Job webhooks: which callback URLs are allowed, what is sent, how one delivery goes, and firing once.

A callback URL must be http(s) on a host of SER_WEBHOOK_ALLOW (``host`` or ``host:port``), checked when
the job is submitted and again before every delivery, so the service cannot be made to call arbitrary
addresses; redirects are never followed. ``notify_finished`` queues the delivery task (``ser.deliver_webhook``,
retried with exponential backoff) once per job, from wherever a job reaches its final state. A receiver
that is down loses nothing: the job's result stays in the job store.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.jobs.job_proto import job_to_proto, proto_json
from services.jobs.store import Job, JobState, JobStore
from services.jobs.webhook_signature import SIGNATURE_HEADER, sign
from shared.errors import CallbackNotAllowed, SerError
from shared.settings import Settings

log = logging.getLogger(__name__)
TASK_NAME = "ser.deliver_webhook"
EVENT_HEADER = "X-SER-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
EVENTS = {JobState.SUCCEEDED: "job.succeeded", JobState.PARTIAL: "job.partial", JobState.FAILED: "job.failed",
          JobState.CANCELLED: "job.cancelled"}


class DeliveryFailed(SerError):
    """The receiver did not answer 2xx (or could not be reached): worth another try later."""

    code = "webhook_delivery_failed"


def check_callback_url(url: str, settings: Settings) -> str:
    """``url`` when a webhook may be sent there; CallbackNotAllowed (INVALID_ARGUMENT) otherwise."""
    if not settings.webhook_secret:
        raise CallbackNotAllowed("callbacks are off in this deployment: SER_WEBHOOK_SECRET is not set")
    if len(url) > MAX_URL_CHARS:
        raise CallbackNotAllowed(f"callback_url is longer than {MAX_URL_CHARS} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise CallbackNotAllowed("callback_url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError as exc:
        raise CallbackNotAllowed(f"callback_url is not a URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise CallbackNotAllowed("callback_url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise CallbackNotAllowed("callback_url must not carry credentials")
    host = parts.hostname.lower()
    for entry in settings.webhook_allow:
        allowed_host, _, allowed_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if allowed_host.strip("[]") == host and (not allowed_port or int(allowed_port) == port):
            return url
    raise CallbackNotAllowed(f"callback host {host}:{port} is not allow-listed (SER_WEBHOOK_ALLOW)")


def _has_port(entry: str) -> bool:
    """``host:port`` or ``[v6]:port`` (a bare IPv6 address has colons but no port)."""
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (head.endswith("]") or ":" not in head)


def event_of(job: Job) -> str:
    return EVENTS[job.state]


def payload(job: Job) -> bytes:
    """The body of a delivery: the event type and the job in the HTTP API's JSON form (ser.v1.Job)."""
    body = {"event": event_of(job), "job": proto_json(job_to_proto(job))}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def headers(job: Job, body: bytes, settings: Settings, timestamp: int | None = None) -> dict[str, str]:
    """Signed with SER_WEBHOOK_SECRET; the idempotency key is the same on every retry of this job's event."""
    event = event_of(job)
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(settings.webhook_secret, body, timestamp),
            EVENT_HEADER: event, IDEMPOTENCY_HEADER: f"{job.id}:{event}", "User-Agent": "ser-webhooks/1"}


def deliver(job: Job, settings: Settings, *, timeout_s: float = 10.0) -> int:
    """One POST of the job's final state to its callback URL (re-checked against the allow-list); the
    status code on 2xx, DeliveryFailed on anything else (a redirect included: none is followed)."""
    url = check_callback_url(job.callback_url, settings)
    body = payload(job)
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
            reply = client.post(url, content=body, headers=headers(job, body, settings))
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook to {url} failed: {type(exc).__name__}: {exc}") from None
    if not 200 <= reply.status_code < 300:
        raise DeliveryFailed(f"webhook to {url} answered {reply.status_code}")
    return reply.status_code


def backoff_s(attempt: int, settings: Settings) -> float:
    """Delay before retry ``attempt`` (1-based): SER_WEBHOOK_BACKOFF_S doubled each time, at most an hour."""
    return min(settings.webhook_backoff_s * 2 ** (attempt - 1), 3600.0)


def notify_finished(store: JobStore, job_id: str, send_task: Callable[..., Any]) -> bool:
    """Queue the job's webhook if it has a callback URL and is final; once per job (a Redis claim), so the
    places that finish a job (the task runner, a cancel before it started) may all call it. True if queued."""
    job = store.get(job_id)
    if not job.callback_url or not job.state.finished or not store.claim(job_id, "webhook"):
        return False
    try:
        send_task(TASK_NAME, args=[job_id], queue="default")
    except Exception:
        store.unclaim(job_id, "webhook")  # a later call (a redelivery of the job) may try again
        raise
    log.info("queued the %s webhook of job %s", event_of(job), job_id)
    return True
