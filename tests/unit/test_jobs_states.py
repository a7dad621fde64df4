"""Issue 13, findings 8-10: honest job states, final vs retryable RESOURCE_EXHAUSTED, validation at submit."""
from __future__ import annotations

import dataclasses
import json
import shutil

import grpc
import pytest
import redis
from ser.v1 import analysis_pb2, analysis_pb2_grpc, jobs_pb2

from services.common.client import channel
from services.common.errors import map_exception, status_error_code
from services.gateway.jobs_api import job_to_proto
from services.gateway.server import serve as serve_gateway
from services.jobs.analyze_client import analyze_options
from services.jobs.progress import outcome, run_task
from services.jobs.specs import parse_spec
from services.jobs.store import Job, JobState, JobStore
from services.jobs.tasks.analyze import CallAnalyzer, CallFile, finished
from shared.assets import sample_call_path
from shared.errors import SpecError
from shared.settings import Settings
from tests.helpers import clean_redis
from tests.unit.test_jobs_analyze import FakeError

DB = 8


# -- finding 8: SUCCEEDED only when every item succeeded ----------------------------------------------


@pytest.mark.parametrize("result, state", [
    ({"completed": 3, "failed": 0}, JobState.SUCCEEDED),
    ({"output_dir": "/x"}, JobState.SUCCEEDED),  # a job without items (train)
    ({"completed": 2, "failed": 1, "errors": ["c.wav: INVALID_ARGUMENT"]}, JobState.PARTIAL),
    ({"completed": 0, "failed": 2, "errors": ["a.wav: UNAUTHENTICATED"]}, JobState.FAILED),
    ({"completed": 0, "failed": ["a.wav", "b.wav"]}, JobState.FAILED),
])
def test_the_state_follows_the_item_counts(result, state):
    got, message, error = outcome(result)
    assert got is state
    assert bool(error) == (state is JobState.FAILED)
    if state is JobState.FAILED:
        assert error.startswith("items_failed: all 2 items failed")
    if state is JobState.PARTIAL:
        assert message == "done, 1 of 3 items failed"


def test_partial_is_final_and_shown_with_its_failure_count_by_the_api_and_the_cli(capsys, monkeypatch):
    from services.cli import jobs as cli_jobs

    job = Job(id="j", kind="segment_batch", spec={}, state=JobState.PARTIAL, result={"completed": 2, "failed": 1})
    assert job.state.finished
    message = job_to_proto(job)
    assert message.state == jobs_pb2.JOB_STATE_PARTIAL and message.progress.items_failed == 1
    assert "failed items: 1 of 3" in cli_jobs.describe(job)

    class Client:
        def get(self, job_id):
            return job

    monkeypatch.setattr(cli_jobs, "make_client", lambda settings: Client())
    args = type("Args", (), {"jobs_command": "get", "job_id": "j"})
    assert cli_jobs.run_jobs(args, Settings.from_env(env={})) == 1
    for state, status in ((JobState.SUCCEEDED, 0), (JobState.FAILED, 1), (JobState.CANCELLED, 1),
                          (JobState.RUNNING, cli_jobs.NOT_FINISHED)):
        assert cli_jobs.exit_status(dataclasses.replace(job, state=state)) == status


@pytest.fixture()
def store(monkeypatch, tmp_path):
    url = clean_redis(DB)
    monkeypatch.setenv("SER_REDIS_URL", url)
    monkeypatch.setenv("SER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("SER_DATA_ROOTS", raising=False)
    yield JobStore.from_url(url)
    redis.Redis.from_url(url).flushdb()


def test_a_segment_job_with_a_bad_file_is_partial_and_one_with_only_bad_files_failed(store, tmp_path):
    from services.jobs.tasks.segment import segment_files

    calls = tmp_path / "calls"
    calls.mkdir()
    shutil.copy(sample_call_path(), calls / "good.wav")
    (calls / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    job = store.create("segment_batch", {"manifest": str(calls)})
    run_task(None, job.id, segment_files)
    partial = store.get(job.id)
    assert partial.state is JobState.PARTIAL and partial.result["failed"] == 1 and partial.result["completed"] == 1
    job = store.create("segment_batch", {"inputs": [str(calls / "bad.wav")]})
    run_task(None, job.id, segment_files)
    failed = store.get(job.id)
    assert failed.state is JobState.FAILED and failed.error.startswith("items_failed: all 1 items failed"), failed


# -- finding 9: RESOURCE_EXHAUSTED for a too-large item is final, queue-full is not -------------------


class ExhaustedStub:
    def __init__(self, details: str, code: str) -> None:
        self.details, self.code, self.calls = details, code, 0

    def AnalyzeUpload(self, requests, timeout):  # noqa: N802 - the gRPC method name
        list(requests)
        self.calls += 1
        error = FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED)
        error.details = lambda: self.details
        error.trailing_metadata = lambda: (("ser-error-code", self.code),) if self.code else ()
        raise error


def test_a_too_large_item_is_final_and_a_full_queue_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr("services.jobs.tasks.analyze.time.sleep", lambda s: None)
    call = tmp_path / "a.wav"
    call.write_bytes(b"RIFF")
    records = {}
    for name, details, code in (("too_large", "Received message larger than max (70000000 vs. 67108864)", ""),
                                ("queue_full", "model m: batching queue full (256 waiting)", "overloaded")):
        stub = ExhaustedStub(details, code)
        record = CallAnalyzer(stub, analyze_options(), tmp_path, timeout_s=5, attempts=3)(
            CallFile.of(call))
        records[name] = {**record, "key": name, "tries": stub.calls}
    assert records["too_large"]["error_code"] == "message_too_large" and records["too_large"]["tries"] == 1
    assert records["too_large"]["retryable"] is False
    assert records["queue_full"]["error_code"] == "overloaded" and records["queue_full"]["tries"] == 3
    assert records["queue_full"]["retryable"] is True
    assert finished(records.values()) == {"too_large"}, "a resubmission redoes only the queue-full file"


def test_setup_errors_are_not_retried_now_but_redone_by_a_resubmission(tmp_path, monkeypatch):
    monkeypatch.setattr("services.jobs.tasks.analyze.time.sleep", lambda s: None)
    call = tmp_path / "a.wav"
    call.write_bytes(b"RIFF")

    class Denied:
        calls = 0

        def AnalyzeUpload(self, requests, timeout):  # noqa: N802
            list(requests)
            Denied.calls += 1
            raise FakeError(grpc.StatusCode.UNAUTHENTICATED)

    record = CallAnalyzer(Denied(), analyze_options(), tmp_path, timeout_s=5, attempts=3)(
        CallFile.of(call))
    assert Denied.calls == 1 and record["retryable"] is True and not finished([record])


def test_the_gateway_keeps_the_code_of_a_downstream_resource_exhausted():
    full = FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED)
    full.trailing_metadata = lambda: (("ser-error-code", "overloaded"),)
    assert map_exception(full).error_code == "overloaded"
    big = FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED)
    big.details = lambda: "Sent message larger than max (5000000 vs. 4194304)"
    big.trailing_metadata = lambda: ()
    assert map_exception(big).error_code == "message_too_large"
    assert status_error_code(grpc.StatusCode.INVALID_ARGUMENT, "audio_error", "x") == "audio_error"


def test_a_message_over_the_gateways_limit_is_message_too_large_over_real_grpc(tmp_path):
    """The gateway refuses it in gRPC itself (no trailer): the worker must still know it is final."""
    from services.inference.config import InferenceConfig
    from services.inference.server import serve as serve_inference
    from shared.registry import ModelRegistry
    from tests.contract.tiny_model import publish_tiny

    publish_tiny(tmp_path / "registry")
    base = Settings.from_env(env={})
    inference = serve_inference(base, port=0, config=InferenceConfig(), registry=ModelRegistry(tmp_path / "registry"),
                                device="cpu")
    small = dataclasses.replace(base, max_message_bytes=1 << 20,
                                addresses={**base.addresses, "inference": f"127.0.0.1:{inference.port}"})
    gateway = serve_gateway(small, port=0)
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (3 << 20))  # uploaded in 2 MiB chunks: each over the gateway's 1 MiB limit
    try:
        with channel(f"127.0.0.1:{gateway.port}", base) as ch:
            record = CallAnalyzer(analysis_pb2_grpc.CallAnalysisStub(ch), analysis_pb2.AnalyzeOptions(), tmp_path,
                                  timeout_s=10, attempts=3)(CallFile.of(big))
    finally:
        gateway.stop(0)
        inference.stop(0)
    assert record["error"] == "RESOURCE_EXHAUSTED" and record["error_code"] == "message_too_large", record
    assert record["attempts"] == 1 and record["retryable"] is False


# -- finding 10: validation at submit, not mid-job ----------------------------------------------------


@pytest.mark.parametrize("kind, spec, field", [
    ("segment_batch", {"manifest": "/x", "vad": {"max_speech_ms": 400, "min_speech_ms": 250, "pad_ms": 100}}, "vad"),
    ("analyze_batch", {"manifest": "/x", "options": {"vad": {"max_speech_ms": 300}}}, "options"),
    ("analyze_batch", {"manifest": "/x", "call_timeout_s": float("inf")}, "call_timeout_s"),
    ("analyze_batch", {"manifest": "/x", "call_timeout_s": float("nan")}, "call_timeout_s"),
    ("analyze_batch", {"manifest": "/x", "call_timeout_s": 1e9}, "call_timeout_s"),
    ("segment_batch", {"manifest": "/x", "vad": {"threshold": float("nan")}}, "vad.threshold"),
])
def test_bad_settings_are_refused_at_submit_naming_the_field(kind, spec, field):
    with pytest.raises(SpecError, match=f"{field}: "):
        parse_spec(kind, spec)


def test_vad_settings_that_hold_the_rule_pass_and_the_yaml_inf_spelling_is_refused():
    parse_spec("segment_batch", {"manifest": "/x", "vad": {"max_speech_ms": 451, "min_speech_ms": 250, "pad_ms": 100}})
    with pytest.raises(SpecError, match="call_timeout_s"):
        parse_spec("analyze_batch", "manifest: /x\ncall_timeout_s: .inf\n")


def test_one_wav_given_as_the_manifest_is_segmented_as_a_batch_of_one(store, tmp_path):
    from services.jobs.tasks.segment import segment_files

    call = tmp_path / "call.wav"
    shutil.copy(sample_call_path(), call)
    job = store.create("segment_batch", {"manifest": str(call)})
    run_task(None, job.id, segment_files)
    final = store.get(job.id)
    assert final.state is JobState.SUCCEEDED, final
    records = [json.loads(line) for line in open(final.result["output"])]
    assert [r["path"] for r in records] == [str(call)] and records[0]["segments"]
