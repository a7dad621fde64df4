from __future__ import annotations

import threading
import time

import pytest
import redis

from services.jobs.store import JobState, JobStore
from shared.errors import NotFound
from tests.helpers import scratch_redis_url

pytestmark = pytest.mark.redis


@pytest.fixture()
def store():
    client = redis.Redis.from_url(scratch_redis_url(12), decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not reachable: run `make redis` first")
    client.flushdb()
    return JobStore(client)


def test_round_trip_keeps_spec_and_progress(store):
    job = store.create("segment_batch", {"inputs": ["a.wav"], "vad": {"threshold": 0.4}})
    store.update(job.id, state=JobState.RUNNING, progress=0.5, done=1, total=2, message="half")
    got = store.get(job.id)
    assert got.spec == {"inputs": ["a.wav"], "vad": {"threshold": 0.4}}
    assert (got.state, got.progress, got.done, got.total, got.message) == (JobState.RUNNING, 0.5, 1, 2, "half")
    assert [j.id for j in store.list()] == [job.id]
    with pytest.raises(NotFound):
        store.get("nope")


def test_watch_streams_until_finished(store):
    job = store.create("segment_batch", {})

    def work():
        for i in range(1, 4):
            time.sleep(0.05)
            store.update(job.id, state=JobState.RUNNING, done=i, total=3)
        store.update(job.id, state=JobState.SUCCEEDED, progress=1.0)

    threading.Thread(target=work).start()
    events = list(store.watch(job.id, block_ms=200, timeout_s=10))
    assert [e["done"] for e in events if "done" in e] == [1, 2, 3]
    assert events[-1]["state"] == "SUCCEEDED"


def test_cancel_flag_only_for_unfinished(store):
    job = store.create("segment_batch", {})
    assert store.request_cancel(job.id).cancel_requested
    done = store.create("segment_batch", {})
    store.update(done.id, state=JobState.SUCCEEDED)
    assert not store.request_cancel(done.id).cancel_requested
