"""Webhooks: the signature scheme, the allow-list, one delivery against a real local receiver, and the
delivery task's retries (run eagerly here; tests/http/test_webhooks_worker.py runs them on a real worker)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from services.jobs.store import JobState, JobStore
from services.jobs.webhook_signature import SIGNATURE_HEADER, sign, verify
from services.jobs.webhooks import DeliveryFailed, backoff_s, check_callback_url, deliver, notify_finished
from shared.errors import CallbackNotAllowed
from shared.settings import Settings
from tests.helpers import clean_redis
from tests.http.receiver import Receiver

SECRET = "whsec-unit"
REDIS_DB = 5


def settings_for(*allow: str, secret: str = SECRET) -> Settings:
    return dataclasses.replace(Settings.from_env(env={}), webhook_secret=secret, webhook_allow=allow)


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def store(monkeypatch) -> JobStore:
    url = clean_redis(REDIS_DB)
    monkeypatch.setenv("SER_REDIS_URL", url)
    return JobStore.from_url(url)


def finished_job(store: JobStore, url: str, state: JobState = JobState.SUCCEEDED):
    job = store.create("segment_batch", {"manifest": "x"}, callback_url=url, labels={"team": "qa"})
    store.update(job.id, state=state, progress=1.0, message="done")
    return store.get(job.id)


def test_signature_round_trip_and_refusals():
    body = b'{"event":"job.succeeded"}'
    header = sign(SECRET, body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, body, header, now=1_700_000_100)
    assert not verify(SECRET, body + b" ", header, now=1_700_000_100)        # tampered body
    assert not verify("other", body, header, now=1_700_000_100)              # wrong secret
    assert not verify(SECRET, body, header, now=1_700_000_000 + 301)         # replayed too late
    for bad in ("", "t=abc,v1=00", "v1=" + header.split("v1=")[1], "t=1700000000"):
        assert not verify(SECRET, body, bad, now=1_700_000_000)
    rotated = header + ",v1=" + "0" * 64  # several v1 values (a rotated secret) verify if one matches
    assert verify(SECRET, body, rotated, now=1_700_000_000)


def test_allow_list():
    s = settings_for("hooks.example.com", "127.0.0.1:8099", "[::1]:9000")
    assert check_callback_url("https://hooks.example.com/x?y=1", s)
    assert check_callback_url("http://HOOKS.example.com:8443/x", s)  # a host entry allows any port
    assert check_callback_url("http://127.0.0.1:8099/hook", s)
    assert check_callback_url("http://[::1]:9000/hook", s)
    for url in ("http://127.0.0.1:8100/hook", "http://127.0.0.1/hook", "http://evil.example.com/",
                "http://hooks.example.com.evil.net/", "ftp://hooks.example.com/", "hooks.example.com/x",
                "http://user:pw@hooks.example.com/", "http://[::1]:9001/", "http://:80/",
                "http://hooks.example.com/a\r\nX-Evil: 1", "http://hooks.example.com/ x"):
        with pytest.raises(CallbackNotAllowed):
            check_callback_url(url, s)
    with pytest.raises(CallbackNotAllowed, match="SER_WEBHOOK_SECRET"):
        check_callback_url("https://hooks.example.com/x", settings_for("hooks.example.com", secret=""))
    assert Settings.from_env(env={"SER_WEBHOOK_ALLOW": " A.example:81 , b "}).webhook_allow == ("a.example:81", "b")


def test_delivery_is_signed_and_carries_the_job(store, receiver):
    job = finished_job(store, receiver.url(), JobState.PARTIAL)
    assert deliver(job, settings_for(f"127.0.0.1:{receiver.port}")) == 200
    (got,) = receiver.received
    assert verify(SECRET, got.body, got.headers[SIGNATURE_HEADER])
    assert got.headers["Idempotency-Key"] == f"{job.id}:job.partial" and got.headers["X-SER-Event"] == "job.partial"
    body = json.loads(got.body)
    assert body["event"] == "job.partial" and body["job"]["id"] == job.id
    assert body["job"]["state"] == "JOB_STATE_PARTIAL" and body["job"]["labels"] == {"team": "qa"}
    assert body["job"]["callback_url"] == receiver.url() and body["job"]["kind"] == "JOB_KIND_SEGMENT_BATCH"


def test_failures_redirects_and_hosts_not_allowed_are_not_deliveries(store, receiver):
    allowed = settings_for(f"127.0.0.1:{receiver.port}")
    job = finished_job(store, receiver.url())
    receiver.statuses = [503]
    with pytest.raises(DeliveryFailed, match="503"):
        deliver(job, allowed)
    target = Receiver()
    try:
        receiver.statuses, receiver.location = [302], target.url("/elsewhere")
        with pytest.raises(DeliveryFailed, match="302"):
            deliver(job, settings_for(f"127.0.0.1:{receiver.port}", f"127.0.0.1:{target.port}"))
        assert target.received == []  # a redirect is never followed
    finally:
        target.close()
    count = len(receiver.received)
    with pytest.raises(CallbackNotAllowed):  # allowed at submit, no longer at delivery
        deliver(job, settings_for("127.0.0.1:1"))
    assert len(receiver.received) == count
    with pytest.raises(DeliveryFailed):  # nobody listening
        deliver(finished_job(store, "http://127.0.0.1:9/x"), settings_for("127.0.0.1:9"))


def test_the_task_retries_until_delivered(store, receiver, monkeypatch):
    from services.jobs.tasks.webhook import deliver_webhook

    monkeypatch.setenv("SER_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SER_WEBHOOK_ALLOW", f"127.0.0.1:{receiver.port}")
    job = finished_job(store, receiver.url(), JobState.FAILED)
    receiver.statuses = [500, 502]
    result = deliver_webhook.apply(args=[job.id]).get()
    assert result == {"delivered": True, "status": 200, "attempts": 3}
    keys = {r.headers["Idempotency-Key"] for r in receiver.received}
    assert len(receiver.received) == 3 and keys == {f"{job.id}:job.failed"}
    assert all(verify(SECRET, r.body, r.headers[SIGNATURE_HEADER]) for r in receiver.received)

    monkeypatch.setenv("SER_WEBHOOK_ATTEMPTS", "2")
    receiver.statuses = [500] * 5
    given_up = deliver_webhook.apply(args=[job.id]).get()
    assert given_up["delivered"] is False and given_up["attempts"] == 2
    assert store.get(job.id).state is JobState.FAILED  # the result stays with the job


def test_backoff_doubles():
    s = dataclasses.replace(Settings.from_env(env={}), webhook_backoff_s=2.0)
    assert [backoff_s(a, s) for a in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0] and backoff_s(30, s) == 3600.0


def test_a_final_job_queues_its_webhook_once(store):
    sent = []
    job = finished_job(store, "http://127.0.0.1:9/x", JobState.CANCELLED)
    for _ in range(3):
        notify_finished(store, job.id, lambda name, **kw: sent.append((name, kw)))
    assert sent == [("ser.deliver_webhook", {"args": [job.id], "queue": "default"})]
    running = store.create("segment_batch", {"manifest": "x"}, callback_url="http://127.0.0.1:9/x")
    silent = store.create("segment_batch", {"manifest": "x"})
    store.update(silent.id, state=JobState.SUCCEEDED)
    assert not notify_finished(store, running.id, sent.append) and not notify_finished(store, silent.id, sent.append)
    assert len(sent) == 1


def test_idempotency_key_returns_the_first_job(store):
    first = store.create("segment_batch", {"manifest": "x"}, "a" * 32, idempotency_key="k1")
    again = store.create("segment_batch", {"manifest": "y"}, "b" * 32, idempotency_key="k1")
    assert again.id == first.id == "a" * 32 and again.spec == {"manifest": "x"}


def test_the_readme_verification_snippet_agrees_with_the_signer():
    from tests.helpers import REPO

    code = (REPO / "README.md").read_text().split("copy it, or):\n\n```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own snippet
    body = b'{"event":"job.succeeded"}'
    header = sign(SECRET, body)
    assert namespace["verify"](SECRET, body, header)
    assert not namespace["verify"](SECRET, body + b" ", header) and not namespace["verify"]("x", body, header)
    assert not namespace["verify"](SECRET, body, sign(SECRET, body, timestamp=1_000))


def test_the_webhook_secret_is_masked_like_the_tokens():
    settings = settings_for("h", secret="whsec-masked-0123")
    assert settings.redact("failed with whsec-masked-0123 in it") == "failed with *** in it"
    assert "whsec-masked-0123" not in repr(settings)
