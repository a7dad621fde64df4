"""/v1/jobs over the gateway's Jobs API (a scratch Redis, no worker: jobs stay PENDING until cancelled):
submit with labels, idempotency key and callback, list, get, cancel, the SSE stream, typed refusals."""
from __future__ import annotations

import json
import threading

import redis

from tests.http.test_http_calls import assert_problem


def batch(served, **extra) -> dict:
    return {"kind": "batch_analysis", "spec": {"manifest": str(served.data), "options": {"mix_down": True}}, **extra}


def sse_events(lines) -> list[tuple[str, dict]]:
    events, name = [], ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_submit_get_list_cancel(served):
    client = served.client
    reply = client.post("/v1/jobs", json=batch(served, labels={"team": "qa"}, idempotency_key="http-k1"))
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert job["kind"] == "JOB_KIND_BATCH_ANALYSIS" and job["state"] == "JOB_STATE_PENDING"
    assert job["labels"] == {"team": "qa"} and job["idempotency_key"] == "http-k1" and job["callback_url"] == ""
    assert json.loads(job["spec"]["text"])["options"] == {"mix_down": True}
    assert isinstance(job["created_unix_ms"], str) and job["progress"]["fraction"] == 0
    again = client.post("/v1/jobs", json=batch(served, idempotency_key="http-k1"))
    assert again.status_code == 201 and again.json()["id"] == job["id"]
    assert client.get(f"/v1/jobs/{job['id']}").json() == job
    assert job["id"] in [j["id"] for j in client.get("/v1/jobs").json()["jobs"]]
    cancelled = client.delete(f"/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "JOB_STATE_CANCELLED"
    assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "JOB_STATE_CANCELLED"


def test_spec_as_yaml_text_and_other_kinds(served):
    client = served.client
    text = f"manifest: {served.data}\nmode: segment_only\n"
    seg = client.post("/v1/jobs", json={"kind": "batch_analysis", "spec": text})
    assert seg.status_code == 201 and seg.json()["kind"] == "JOB_KIND_SEGMENT_BATCH"
    corpus = {"name": "csv", "root": str(served.data)}
    train = {"name": "t", "corpora": [corpus], "protocol": {"kind": "cross_corpus"},
             "model": {"architecture": "baseline:egemaps+rf"}}
    assert client.post("/v1/jobs", json={"kind": "train", "spec": train}).json()["kind"] == "JOB_KIND_TRAINING"
    # an evaluation of a registered model (the spec names it, as `ser eval` specs do)
    evaluation = {k: v for k, v in train.items() if k != "model"} | {"evaluate_model": "default:1"}
    reply = client.post("/v1/jobs", json={"kind": "eval", "spec": evaluation})
    assert reply.status_code == 201 and reply.json()["kind"] == "JOB_KIND_EVALUATION", reply.text
    fit = client.post("/v1/jobs", json={"kind": "fit", "spec": {"target": "vocabulary", "manifest": str(served.data),
                                                                "k": 4}})
    assert fit.status_code == 201 and fit.json()["kind"] == "JOB_KIND_FIT", fit.text
    assert "target" not in json.loads(fit.json()["spec"]["text"])


def test_submit_evaluation_with_a_model_ref_is_accepted(served):
    """The gateway used to put `model_ref` in the spec, which ExperimentSpec refuses: it is `evaluate_model` now."""
    from ser.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

    from services.common.client import channel

    spec = {"name": "t", "corpora": [{"name": "csv", "root": str(served.data)}], "protocol": {"kind": "cross_corpus"}}
    with channel(served.settings.address("gateway"), served.settings) as ch:
        job = jobs_pb2_grpc.JobsStub(ch).SubmitEvaluation(jobs_pb2.SubmitEvaluationRequest(
            spec=jobs_pb2.JobSpec(text=json.dumps(spec)), model=common_pb2.ModelRef(name="default", version="1")),
            timeout=30)
    assert json.loads(job.spec.text)["evaluate_model"] == "default:1"


def test_callbacks_are_allow_listed_and_fire_once_on_cancel(served):
    client = served.client
    refused = client.post("/v1/jobs", json=batch(served, callback_url="http://evil.example.com/hook"))
    assert assert_problem(refused, 422, "callback_not_allowed")["detail"].startswith("callback host evil.example.com")
    assert_problem(client.post("/v1/jobs", json=batch(served, callback_url="file:///etc/passwd")),
                   422, "callback_not_allowed")
    reply = client.post("/v1/jobs", json=batch(served, callback_url="http://127.0.0.1:9/hook"))
    assert reply.status_code == 201 and reply.json()["callback_url"] == "http://127.0.0.1:9/hook"
    job_id = reply.json()["id"]
    r = redis.Redis.from_url(served.settings.redis_url)
    queued = r.llen("default")
    client.delete(f"/v1/jobs/{job_id}")
    client.delete(f"/v1/jobs/{job_id}")  # a second cancel of a final job queues nothing more
    assert r.llen("default") == queued + 1
    message = json.loads(r.lindex("default", 0))
    assert message["headers"]["task"] == "ser.deliver_webhook" and message["headers"]["argsrepr"] == repr([job_id])


def test_events_stream_until_final(served):
    client = served.client
    job_id = client.post("/v1/jobs", json=batch(served)).json()["id"]
    lines: list[str] = []
    opened = threading.Event()

    def follow() -> None:
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                lines.append(line)
                opened.set()

    reader = threading.Thread(target=follow)
    reader.start()
    assert opened.wait(30)
    client.delete(f"/v1/jobs/{job_id}")
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end after the final state"
    events = sse_events(lines)
    assert [e for e, _ in events] == ["job"] * len(events) and len(events) >= 2
    assert events[0][1]["state"] == "JOB_STATE_PENDING" and events[-1][1]["state"] == "JOB_STATE_CANCELLED"
    assert all(data["id"] == job_id for _, data in events)
    # a finished job: one event, then the end
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        assert [e["state"] for _, e in sse_events(stream.iter_lines())] == ["JOB_STATE_CANCELLED"]


def test_bad_job_requests(served):
    client = served.client
    assert_problem(client.get("/v1/jobs/nope"), 404, "not_found")
    assert_problem(client.delete("/v1/jobs/nope"), 404, "not_found")
    assert_problem(client.get("/v1/jobs/nope/events"), 404, "not_found")
    assert_problem(client.post("/v1/jobs", json={"kind": "batch_analysis", "spec": {"bogus": 1}}), 422, "invalid_spec")
    assert_problem(client.post("/v1/jobs", json={"kind": "train", "spec": "name: [unclosed"}), 422, "invalid_spec")
    assert_problem(client.post("/v1/jobs", json={"kind": "train", "spec": {"name": "t"}}), 422, "invalid_spec")
    assert_problem(client.post("/v1/jobs", json={"kind": "fit", "spec": {"manifest": "x"}}), 422, "invalid_spec")
    assert_problem(client.post("/v1/jobs", json={"kind": "mine", "spec": {}}), 422, "invalid_input")
    many = batch(served, labels={f"k{i}": "v" for i in range(33)})
    assert_problem(client.post("/v1/jobs", json=many), 422, "invalid_spec")
    assert_problem(client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}),
                   422, "invalid_input")
    outside = {"kind": "batch_analysis", "spec": {"manifest": "/etc"}}
    assert_problem(client.post("/v1/jobs", json=outside), 422, "invalid_input")
    assert_problem(client.get("/v1/jobs", headers={"Authorization": "Bearer nope"}), 401, "unauthenticated")
    assert client.get("/v1/jobs").status_code == 200
