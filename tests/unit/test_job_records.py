"""Issue 18, finding 7: a job record the store holds always reads back, whatever its numbers say.

A batch of 300 links to one recording once stored ``done=-299``, and every GetJob of it failed INTERNAL
(``Value out of range`` building ser.v1.Job). Here any record the store can write is read back and
converted the way GetJob, WatchJob, the HTTP API and webhooks convert it.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.jobs_api import JobsServicer
from services.jobs.job_proto import UINT32_MAX, job_to_proto, proto_json
from services.jobs.store import JobState, JobStore
from tests.helpers import scratch_job_store

pytestmark = pytest.mark.redis

numbers = st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True))
counts = st.one_of(numbers, st.lists(st.integers(), max_size=3), st.text(max_size=5), st.none(), st.booleans())


@pytest.fixture(scope="module")
def store() -> JobStore:
    return scratch_job_store(12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(done=numbers, total=numbers, progress=numbers, attempts=numbers, created=numbers, failed=counts,
       state=st.sampled_from(list(JobState)), message=st.text(max_size=20),
       labels=st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers()), max_size=3))
def test_any_stored_record_reads_back_as_a_job(store, done, total, progress, attempts, created, failed, state,
                                                message, labels):
    job = store.create("analyze_batch", {"manifest": "/x"}, labels=labels)
    store.update(job.id, done=done, total=total, progress=progress, attempts=attempts, created=created,
                 state=state, message=message, result={"failed": failed, "output_dir": "/o"})
    got = store.get(job.id)
    message_ = job_to_proto(got)
    assert 0 <= message_.progress.items_done <= UINT32_MAX and message_.progress.step >= 0
    assert 0.0 <= message_.progress.fraction <= 1.0 and not math.isnan(message_.progress.fraction)
    assert proto_json(message_)["id"] == job.id
    assert JobsServicer._event(got).job.id == job.id  # what WatchJob sends


def test_progress_counts_are_never_negative_nor_past_the_total(store):
    from services.jobs.progress import JobContext

    job = store.create("analyze_batch", {"manifest": "/x"})
    ctx = JobContext(store, job)
    for done, total in ((1 - 300, 1), (5, 1), (-3, 0)):
        ctx.progress(done, total)
        got = store.get(job.id)
        assert 0 <= got.done and (got.total == 0 or got.done <= got.total), (done, total, got)
