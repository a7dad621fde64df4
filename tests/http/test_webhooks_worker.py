"""Webhooks end to end on a real Celery worker: a job that fails in the worker fires its webhook from the task
runner; a receiver that fails twice gets retries with doubling delays, then the delivery; a host the worker
does not allow gets nothing; a receiver that is always down loses nothing (the job keeps its result)."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest

from services.jobs.app import make_app
from services.jobs.client import JobClient
from services.jobs.store import JobState, JobStore
from services.jobs.webhook_signature import SIGNATURE_HEADER, verify
from shared.settings import Settings
from tests.helpers import clean_redis, start_worker, stop, wait_worker
from tests.http.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]
REDIS_DB = 8
SECRET = "whsec-worker"
BACKOFF_S = 0.3


def test_webhooks_from_a_real_worker(tmp_path):
    flaky, down, refused = Receiver(statuses=[500, 503]), Receiver(statuses=[500] * 10), Receiver()
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "SER_REDIS_URL": clean_redis(REDIS_DB), "SER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
           "SER_WEBHOOK_SECRET": SECRET, "SER_WEBHOOK_BACKOFF_S": str(BACKOFF_S), "SER_WEBHOOK_ATTEMPTS": "3",
           "SER_WEBHOOK_ALLOW": f"127.0.0.1:{flaky.port},127.0.0.1:{down.port}", "OMP_NUM_THREADS": "1"}
    worker_settings = Settings.from_env(env)
    # the submitter allows `refused` too; the worker, which delivers, does not
    submitter = dataclasses.replace(worker_settings, webhook_allow=(*worker_settings.webhook_allow,
                                                                     f"127.0.0.1:{refused.port}"))
    app = make_app(worker_settings)
    store = JobStore.from_url(worker_settings.redis_url)
    client = JobClient(app, store, submitter)
    proc = start_worker(env, tmp_path / "worker.log", queues="default,batch")
    try:
        wait_worker(app, proc, tmp_path / "worker.log")
        first = client.submit("segment_batch", {"manifest": str(empty)}, callback_url=refused.url())
        second = client.submit("segment_batch", {"manifest": str(empty)}, callback_url=down.url())
        third = client.submit("segment_batch", {"manifest": str(empty)}, callback_url=flaky.url("/flaky"))
        got = flaky.wait(3, timeout_s=120)
        assert len(got) == 3, (tmp_path / "worker.log").read_text()[-3000:]
        gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
        assert gaps[0] >= BACKOFF_S * 0.9 and gaps[1] >= 2 * BACKOFF_S * 0.9, gaps
        assert {r.headers["Idempotency-Key"] for r in got} == {f"{third.id}:job.failed"}
        assert all(verify(SECRET, r.body, r.headers[SIGNATURE_HEADER]) for r in got)
        body = json.loads(got[-1].body)
        assert body["event"] == "job.failed" and body["job"]["state"] == "JOB_STATE_FAILED"
        assert "no input files" in body["job"]["error"]["message"]
        assert len(down.wait(3, timeout_s=30)) == 3  # given up after SER_WEBHOOK_ATTEMPTS
        log = (tmp_path / "worker.log").read_text()
        assert f"job {first.id}: webhook dropped: callback host 127.0.0.1:{refused.port} is not allow-listed" in log
        assert refused.received == []  # dropped by the worker, never sent
        for job in (first, second, third):
            assert store.get(job.id).state is JobState.FAILED and store.get(job.id).error  # nothing lost
        assert store.get(first.id).callback_url == refused.url()
    finally:
        stop(proc)
        for r in (flaky, down, refused):
            r.close()
