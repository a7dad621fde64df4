"""Regression (found by the Redis-restart fault test): a job whose store calls fail mid-run because Redis
restarted must wait and resume in place, not end FAILED-or-stuck. Fast: real Redis on DB 6, simulated outage."""
from __future__ import annotations

import pytest
import redis

from services.jobs.progress import JobContext, execute_job
from services.jobs.store import JobState, JobStore
from tests.helpers import scratch_redis_url

pytestmark = pytest.mark.redis


class RestartingStore(JobStore):
    """A JobStore whose ``fail_at``-th update fails as if Redis had just gone away."""

    def __init__(self, client: redis.Redis, fail_at: int) -> None:
        super().__init__(client)
        self.fail_at, self.updates = fail_at, 0

    def update(self, job_id: str, **fields) -> None:
        self.updates += 1
        if self.updates == self.fail_at:
            raise redis.ConnectionError("Error 111 connecting to redis: Connection refused (simulated restart)")
        super().update(job_id, **fields)


@pytest.fixture()
def client():
    c = redis.Redis.from_url(scratch_redis_url(6), decode_responses=True)
    try:
        c.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis")
    c.flushdb()
    yield c
    c.flushdb()


def test_a_job_store_outage_mid_job_resumes_the_job_in_place(client):
    store = RestartingStore(client, fail_at=5)  # 1: RUNNING, 2-4: items 0-2, 5: progress after item 3 fails
    job = store.create("segment_batch", {"manifest": "x"})
    written: list[int] = []

    def body(ctx: JobContext) -> dict:
        for item in range(8):
            if item in written:  # resumable, like the batch tasks' JSONL
                continue
            written.append(item)
            ctx.progress(len(written), 8)
        return {"completed": len(written)}

    result = execute_job(store, job.id, None, body)
    final = store.get(job.id)
    assert final.state is JobState.SUCCEEDED, final
    assert final.attempts == 2 and result["completed"] == 8
    assert written == list(range(8)), "every item exactly once"
    assert client.get(f"ser:job:{job.id}:lease") is None, "the lease is released"
