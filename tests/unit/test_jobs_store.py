from __future__ import annotations

import threading
import time

import pytest

from services.jobs.store import JobState, JobStore
from shared.errors import NotFound
from tests.helpers import scratch_job_store

pytestmark = pytest.mark.redis


@pytest.fixture()
def store():
    return scratch_job_store(12)


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


def test_finished_jobs_expire_after_the_retention_and_leave_the_index(store):
    """Records of running jobs never expire; finished ones are kept ``retention_s``, then Redis drops them
    (a batch deployment would otherwise fill Redis), and the index forgets ids older than that."""
    short = JobStore(store.r, retention_s=1)
    job = short.create("analyze_batch", {})
    short.update(job.id, state=JobState.RUNNING)
    assert store.r.ttl(f"ser:job:{job.id}") == -1 and store.r.ttl(f"ser:job:{job.id}:events") == -1
    short.update(job.id, state=JobState.SUCCEEDED)
    assert 0 < store.r.pttl(f"ser:job:{job.id}") <= 1000 and 0 < store.r.pttl(f"ser:job:{job.id}:events") <= 1000
    short.update(job.id, state=JobState.RUNNING)  # re-run: kept again while it runs
    assert store.r.ttl(f"ser:job:{job.id}") == -1
    short.update(job.id, state=JobState.FAILED)
    time.sleep(1.2)
    with pytest.raises(NotFound):
        short.get(job.id)
    assert short.list() == []
    later = short.create("analyze_batch", {})
    assert store.r.zrange("ser:jobs", 0, -1) == [later.id]
    assert JobStore(store.r).retention_s == 7 * 24 * 3600
