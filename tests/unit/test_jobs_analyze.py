"""The analyze_batch task's parts: its spec, resume keys, per-file retries and errors, the CSV summary."""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
from pathlib import Path

import grpc
import pytest
from ser.v1 import analysis_pb2, common_pb2

from services.cli.batch import spec_from_args
from services.jobs.analyze_client import analyze_options, dominant_label, response_to_dict
from services.jobs.specs import parse_spec
from services.jobs.tasks.analyze import CallAnalyzer, CallFile, finished, summary_rows, write_summary
from shared.errors import InvalidInput, SpecError


def test_spec_checks_options_against_the_analyze_options_contract():
    spec = parse_spec("analyze_batch", {"manifest": "/data/calls", "model": "default:3",
                                        "options": {"speaker_normalize": True, "vad": {"threshold": 0.4}}})
    assert spec.output_dir is None and spec.concurrency == 4
    options = analyze_options(spec.options, spec.model)
    assert options.speaker_normalize and options.vad.threshold == pytest.approx(0.4)
    assert (options.model.name, options.model.version) == ("default", "3")
    for bad in ({"manifest": "/x", "options": {"bogus": 1}}, {"options": {}},
                {"manifest": "/x", "model": "a", "options": {"model": {"name": "b"}}},
                {"manifest": "/x", "model": "bad name"}, {"manifest": "/x", "concurrency": 0}):
        with pytest.raises(SpecError):
            parse_spec("analyze_batch", bad)


def test_cli_spec_makes_paths_absolute_and_single_files_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls").mkdir()
    (tmp_path / "one.wav").write_bytes(b"")
    args = argparse.Namespace(input="calls", model="m:2", out="res", mono=False, speaker_normalize=True, redo=False,
                              concurrency=6)
    spec = spec_from_args(args)
    assert spec == {"manifest": str(tmp_path / "calls"), "model": "m:2", "output_dir": str(tmp_path / "res"),
                    "options": {"speaker_normalize": True}, "redo_finished": False, "concurrency": 6}
    parse_spec("analyze_batch", spec)
    one = spec_from_args(argparse.Namespace(**{**vars(args), "input": "one.wav"}))
    assert one["inputs"] == [str(tmp_path / "one.wav")]


def test_file_key_changes_with_content_and_finished_keeps_only_final_outcomes(tmp_path):
    f = tmp_path / "a.wav"
    f.write_bytes(b"1234")
    first = CallFile.of(f)
    assert first == CallFile.of(tmp_path / "." / "a.wav")
    f.write_bytes(b"12345")
    os.utime(f, ns=(1, 1))
    assert CallFile.of(f).key != first.key and CallFile.of(f).result_name.startswith("a-")
    records = [{"key": "ok", "ok": True}, {"key": "bad", "ok": False, "retryable": False},
               {"key": "flaky", "ok": False, "retryable": True}, {"key": "later", "ok": False, "retryable": True},
               {"key": "later", "ok": True}, {"key": "regressed", "ok": True},
               {"key": "regressed", "ok": False, "retryable": True}]
    assert finished(records) == {"ok", "bad", "later"}


def response(labels=("angry", "neutral")) -> analysis_pb2.AnalyzeCallResponse:
    r = analysis_pb2.AnalyzeCallResponse(call_id="c", duration_s=10.0, model=common_pb2.ModelRef(name="m", version="1"),
                                         labels=list(labels))
    e = r.timeline.add(participant="customer", index=0)
    e.segment.CopyFrom(common_pb2.Segment(channel=1, speaker="customer", start_ms=1000, end_ms=4000))
    e.emotion.CopyFrom(common_pb2.EmotionPosteriors(labels=list(labels), probs=[0.8, 0.2], top_label="angry",
                                                    top_prob=0.8, valence=-0.5))
    p = r.participants.add(participant="customer", channel=1, talk_time_ms=3000, talk_share=0.3, segments=1,
                           mean_valence=-0.5)
    p.shares.add(label="angry", share=1.0, duration_ms=3000, segments=1)
    p.shares.add(label="neutral", share=0.0, duration_ms=0, segments=0)
    p.negative_turns.add(at_ms=1000, to_label="angry")
    return r


class FakeError(grpc.RpcError, grpc.Call):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return f"{self._code.name} from the fake"

    def trailing_metadata(self):
        return (("ser-error-code", "audio_error"),)


class FakeStub:
    """Answers by file name: 'flaky' fails UNAVAILABLE twice, 'bad' is INVALID_ARGUMENT, others succeed."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def AnalyzeUpload(self, requests, timeout):  # noqa: N802 - the gRPC method name
        messages = list(requests)  # reads the file, as gRPC would while uploading
        request = messages[0].config
        assert b"".join(m.chunk for m in messages[1:]) == Path(request.call_id).read_bytes()
        self.calls.append(request.call_id)
        name = request.call_id.rsplit("/", 1)[-1]
        if name.startswith("bad"):
            raise FakeError(grpc.StatusCode.INVALID_ARGUMENT)
        if name.startswith("flaky") and self.calls.count(request.call_id) <= 2:
            raise FakeError(grpc.StatusCode.UNAVAILABLE)
        return response()


def test_analyzer_retries_transient_errors_records_final_ones_and_writes_call_jsonl(tmp_path, monkeypatch):
    monkeypatch.setattr("services.jobs.tasks.analyze.time.sleep", lambda s: None)
    for name in ("good.wav", "flaky.wav", "bad.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    stub = FakeStub()
    out = tmp_path / "out"
    analyze = CallAnalyzer(stub, analyze_options(), out, timeout_s=5, attempts=3, job_id="j")
    good, flaky, bad = (analyze(CallFile.of(tmp_path / n)) for n in ("good.wav", "flaky.wav", "bad.wav"))
    assert good["ok"] and good["attempts"] == 1 and good["duration_s"] == 10.0 and good["model"] == "m:1"
    assert good["participants"] == [{"participant": "customer", "channel": 1, "talk_time_s": 3.0, "talk_share": 0.3,
                                     "uncertain_s": 0.0, "dominant": "angry", "mean_valence": -0.5, "segments": 1, "negative_turns": 1,
                                     "first_negative_s": 1.0}]
    lines = [json.loads(line) for line in (out / good["result"]).read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["call", "segment"]
    assert lines[1]["segment"] == {"channel": 1, "speaker": "customer", "start_ms": 1000, "end_ms": 4000}
    assert flaky["ok"] and flaky["attempts"] == 3
    assert not bad["ok"] and bad["attempts"] == 1 and bad["error"] == "INVALID_ARGUMENT"
    assert bad["error_code"] == "audio_error" and bad["retryable"] is False
    assert good["sha256"] == hashlib.sha256(b"RIFF").hexdigest()  # digested while streaming the upload
    missing = analyze(CallFile.of(tmp_path / "gone.wav"))
    assert missing["error"] == "io_error" and missing["retryable"] and missing["attempts"] == 3


def test_response_dict_keeps_int64_milliseconds_as_numbers():
    d = response_to_dict(response())
    assert d["timeline"][0]["segment"]["start_ms"] == 1000
    assert d["participants"][0]["negative_turns"][0]["at_ms"] == 1000
    assert dominant_label(d["participants"][0]["shares"]) == "angry" and dominant_label([]) == ""


def test_summary_csv_has_a_row_per_input_with_its_latest_record(tmp_path):
    paths = [tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"]
    digest = [{"participant": "agent", "talk_time_s": 2.0, "uncertain_s": 0.5, "dominant": "neutral",
               "mean_valence": 0.1, "negative_turns": 0},
              {"participant": "customer", "talk_time_s": 3.0, "dominant": "angry", "mean_valence": -0.5,
               "negative_turns": 2}]
    records = [{"path": str(paths[0]), "ok": False, "error": "UNAVAILABLE", "message": "down"},
               {"path": str(paths[0]), "ok": True, "duration_s": 9.5, "segments": 4, "model": "m:1",
                "participants": digest, "result": "calls/a.jsonl"},
               {"path": str(paths[1]), "ok": False, "error": "INVALID_ARGUMENT", "message": "not audio"}]
    header, rows = summary_rows(paths, records)
    assert header == ["file", "ok", "duration_s", "segments", "model", "agent_talk_s", "agent_uncertain_s",
                      "agent_dominant", "agent_mean_valence", "agent_negative_turns", "customer_talk_s",
                      "customer_uncertain_s", "customer_dominant", "customer_mean_valence", "customer_negative_turns",
                      "error", "message", "result"]
    # a record written before uncertain_s existed (the customer's here) leaves that cell blank
    assert rows[0] == [str(paths[0]), True, 9.5, 4, "m:1", 2.0, 0.5, "neutral", 0.1, 0, 3.0, "", "angry", -0.5, 2,
                       "", "", "calls/a.jsonl"]
    assert rows[1][1] is False and rows[1][-3:] == ["INVALID_ARGUMENT", "not audio", ""]
    assert rows[2] == [str(paths[2])] + [""] * 17
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))
    write_summary(paths, results, tmp_path / "summary.csv")
    with open(tmp_path / "summary.csv", newline="") as fh:
        parsed = list(csv.DictReader(fh))
    assert [r["customer_dominant"] for r in parsed] == ["angry", "", ""]


def test_gateway_jobs_api_builds_a_valid_analyze_batch_spec(tmp_path):
    from ser.v1 import jobs_pb2

    from services.gateway.jobs_api import JobsServicer
    from services.jobs.store import Job
    from shared.settings import Settings

    submitted = []

    class Client:
        def submit(self, kind, spec, **options):
            assert options == {"callback_url": "", "labels": {}, "idempotency_key": ""}
            parsed = parse_spec(kind, spec)  # the gateway's spec must pass the task's own validation
            submitted.append((kind, parsed))
            return Job(id="j1", kind=kind, spec=parsed.model_dump(mode="json"))

    servicer = JobsServicer(Settings.from_env(env={"SER_ARTIFACTS_DIR": str(tmp_path / "artifacts")}), lambda: Client())
    options = analysis_pb2.AnalyzeOptions(model=common_pb2.ModelRef(name="m", version="2"), speaker_normalize=True)
    job = servicer.SubmitBatchAnalysis(jobs_pb2.SubmitBatchAnalysisRequest(input=str(tmp_path), options=options,
                                                                           redo_finished=True), context=None)
    assert job.kind == jobs_pb2.JOB_KIND_BATCH_ANALYSIS
    kind, spec = submitted[-1]
    assert kind == "analyze_batch" and spec.manifest == str(tmp_path) and spec.output_dir is None
    assert spec.redo_finished and spec.options == {"model": {"name": "m", "version": "2"}, "speaker_normalize": True}
    out = str(tmp_path / "artifacts" / "out")
    servicer.SubmitBatchAnalysis(jobs_pb2.SubmitBatchAnalysisRequest(input=str(tmp_path), output_dir=out),
                                 context=None)
    assert submitted[-1][1].output_dir == out
    with pytest.raises(InvalidInput, match="outside SER_ARTIFACTS_DIR and SER_OUTPUT_ROOTS"):
        servicer.SubmitBatchAnalysis(jobs_pb2.SubmitBatchAnalysisRequest(input=str(tmp_path), output_dir="/o"),
                                     context=None)
    assert len(submitted) == 2, "a refused spec never reaches the job client"
