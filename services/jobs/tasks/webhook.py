"""``ser.deliver_webhook``: POST a finished job's signed event to its callback URL, at least once.

A failed delivery (no answer, not 2xx, a redirect) is retried after SER_WEBHOOK_BACKOFF_S, doubled per
attempt, up to SER_WEBHOOK_ATTEMPTS tries; a URL no longer allow-listed is dropped at once. Every try carries
the same ``Idempotency-Key`` (job id and event), so a receiver can drop duplicates.
"""
from __future__ import annotations

import logging
from typing import Any

from services.jobs.app import app
from services.jobs.store import JobStore
from services.jobs.webhooks import TASK_NAME, DeliveryFailed, backoff_s, deliver
from shared.errors import CallbackNotAllowed
from shared.settings import Settings

log = logging.getLogger(__name__)


@app.task(name=TASK_NAME, bind=True, max_retries=None, acks_late=True)
def deliver_webhook(self: Any, job_id: str) -> dict[str, Any]:
    settings = Settings.from_env()
    job = JobStore.for_settings(settings).get(job_id)
    attempt = self.request.retries + 1
    try:
        status = deliver(job, settings)
    except CallbackNotAllowed as exc:
        log.warning("job %s: webhook dropped: %s", job_id, exc)
        return {"delivered": False, "error": str(exc), "attempts": attempt}
    except DeliveryFailed as exc:
        if attempt >= settings.webhook_attempts:
            log.error("job %s: webhook given up after %d attempts: %s", job_id, attempt, exc)
            return {"delivered": False, "error": str(exc), "attempts": attempt}
        log.warning("job %s: webhook attempt %d failed (%s); retrying", job_id, attempt, exc)
        raise self.retry(countdown=backoff_s(attempt, settings), exc=exc) from None
    log.info("job %s: webhook delivered (%d) on attempt %d", job_id, status, attempt)
    return {"delivered": True, "status": status, "attempts": attempt}
