"""``analyze_batch``: full call analysis of many recordings through the gateway, resumable file by file.

The task is a fan-out, not a model host: it keeps ``concurrency`` AnalyzeCall requests in flight so
the gateway and the inference service's dynamic batcher combine segments of different calls into
the same forward passes. Layout of the output folder::

    calls/<stem>-<key>.jsonl   one call: a ``call`` line (participants, silence, model), then one
                               ``segment`` line per timeline entry
    results.jsonl              one fsynced line per finished file (ok or error): the resume record
    summary.csv                one row per input file (its latest record), rewritten at the end; per
                               participant: talk time, its uncertain part (left out of the shares),
                               dominant emotion, mean valence, negative turns

A file's key is its absolute path + size + mtime, so a resubmission (or a redelivery after a worker
died) skips files already analysed into that folder and redoes a file that changed. Errors are
recorded per file, in three kinds:

- transient (gateway unavailable, inference queue full ``overloaded``, a deadline, an unreadable
  file): tried ``attempts`` times, and again by a resubmission;
- final for the file, because another try gives the same answer (bad audio, a file outside the data
  roots, a file over a message limit: ``payload_too_large`` here, ``message_too_large`` from a
  server): never retried, skipped by resubmissions unless ``redo_finished``;
- anything else (UNAUTHENTICATED, an unknown model, INTERNAL...) is about the job's setup, not the
  file: not retried within the job, redone by a resubmission once the setup is fixed.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from ser.v1 import analysis_pb2, analysis_pb2_grpc

from services.common.client import channel, wait_healthy
from services.common.errors import status_error_code
from services.jobs.analyze_client import (
    analyze_options,
    analyze_path,
    error_code,
    participant_digest,
    response_to_dict,
)
from services.jobs.app import app
from services.jobs.inputs import REFUSED, Refused, resolve_inputs
from services.jobs.jsonl import JsonlWriter, latest_by, read_records
from services.jobs.progress import JobContext, run_task
from services.jobs.specs import AnalyzeBatchSpec
from shared.errors import MessageTooLarge, Overloaded, PayloadTooLarge
from shared.features.atomic import atomic_write
from shared.paths import no_symlink_below
from shared.settings import Settings

RESULTS = "results.jsonl"
SUMMARY = "summary.csv"
CALLS = "calls"
# (status or local error, stable code): "" matches any code
TRANSIENT = frozenset({("UNAVAILABLE", ""), ("DEADLINE_EXCEEDED", ""), ("io_error", ""),
                       ("RESOURCE_EXHAUSTED", Overloaded.code)})
FINAL = frozenset({("INVALID_ARGUMENT", ""), (PayloadTooLarge.code, ""), (REFUSED, ""),
                   ("RESOURCE_EXHAUSTED", MessageTooLarge.code)})
HEALTH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class CallFile:
    path: Path
    key: str

    @classmethod
    def of(cls, path: Path) -> CallFile:
        path = path.resolve()
        try:
            st = path.stat()
            key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
        except OSError:
            key = f"{path}|missing"
        return cls(path, key)

    @property
    def result_name(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.path.stem)[:80] or "call"
        return f"{stem}-{hashlib.sha256(self.key.encode()).hexdigest()[:10]}.jsonl"


def _matches(kinds: frozenset[tuple[str, str]], error: str, code: str) -> bool:
    return (error, "") in kinds or (error, code) in kinds


def transient(error: str, code: str = "") -> bool:
    """Worth another try now (with backoff): the gateway, a queue or the file system was busy."""
    return _matches(TRANSIENT, error, code)


def final(error: str, code: str = "") -> bool:
    """A property of the file: another try, now or by a resubmission, gives the same answer."""
    return _matches(FINAL, error, code)


def refused_record(refused: Refused, job_id: str) -> dict[str, Any]:
    """A file outside the data roots: recorded as its failure, never opened (not even stat'ed)."""
    return {**refused.record(), "key": f"{refused.path}|refused", "job_id": job_id, "attempts": 0}


def finished(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """Keys whose latest record is final: analysed, or an error that another try would repeat."""
    return {k for k, r in latest_by(records, "key").items() if r.get("ok") or not r.get("retryable")}


def write_output(root: Path, target: Path, text: str) -> None:
    """``text`` into ``target`` atomically, through no symbolic link below the job's output folder ``root``
    (the rename replaces a link at ``target`` itself rather than following it)."""
    no_symlink_below(root, target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    no_symlink_below(root, target.parent)
    atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_call(result: Mapping[str, Any], root: Path, target: Path) -> None:
    """One call as JSONL (a header line, then a line per timeline entry), atomically."""
    header = {"kind": "call", **{k: v for k, v in result.items() if k != "timeline"}}
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps({"kind": "segment", **entry}, ensure_ascii=False) for entry in result.get("timeline", [])]
    write_output(root, target, "\n".join(lines) + "\n")


class CallAnalyzer:
    """Analyses one file through a shared gateway channel (thread-safe: one per job, used by the pool)."""

    def __init__(self, stub: analysis_pb2_grpc.CallAnalysisStub, options: analysis_pb2.AnalyzeOptions,
                 out_dir: Path, *, timeout_s: float, attempts: int, job_id: str = "") -> None:
        self.stub, self.options, self.out_dir = stub, options, out_dir
        self.timeout_s, self.attempts, self.job_id = timeout_s, attempts, job_id

    def __call__(self, item: CallFile) -> dict[str, Any]:
        started = time.perf_counter()
        record: dict[str, Any] = {"key": item.key, "path": str(item.path), "job_id": self.job_id}
        tries = 0
        while True:
            tries += 1
            outcome = self._once(item)
            if outcome.get("ok") or not transient(outcome["error"], outcome.get("error_code", "")) \
                    or tries >= self.attempts:
                break
            time.sleep(min(8.0, 0.5 * 2**tries))
        record.update(outcome, attempts=tries, elapsed_s=round(time.perf_counter() - started, 3))
        if not record["ok"]:  # "retryable": a resubmission tries this file again
            record["retryable"] = not final(record["error"], record.get("error_code", ""))
        return record

    def _once(self, item: CallFile) -> dict[str, Any]:
        """One file streamed to AnalyzeUpload from disk: any length, never whole in this worker's memory."""
        digest = hashlib.sha256()
        try:
            response = analyze_path(self.stub, item.path, self.options, call_id=str(item.path),
                                    timeout_s=self.timeout_s, digest=digest)
        except OSError as exc:
            return {"ok": False, "error": "io_error", "message": str(exc)}
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            message = (exc.details() if isinstance(exc, grpc.Call) else str(exc)) or code.name
            return {"ok": False, "error": code.name, "error_code": status_error_code(code, error_code(exc), message),
                    "message": message}
        result = response_to_dict(response)
        write_call(result, self.out_dir, self.out_dir / CALLS / item.result_name)
        model = result["model"]
        return {"ok": True, "sha256": digest.hexdigest(), "result": f"{CALLS}/{item.result_name}",
                "duration_s": round(result["duration_s"], 3), "segments": len(result["timeline"]),
                "model": f"{model['name']}:{model['version']}", "participants": participant_digest(result)}


def summary_rows(paths: Sequence[Path], records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """CSV header and rows: one per input file (resolved, or as listed when refused), from its latest record
    (never analysed: blank)."""
    latest = latest_by(records, "path")
    names: list[str] = []
    for r in latest.values():
        for p in r.get("participants") or []:
            if p["participant"] not in names:
                names.append(p["participant"])
    header = ["file", "ok", "duration_s", "segments", "model"]
    for name in names:
        header += [f"{name}_talk_s", f"{name}_uncertain_s", f"{name}_dominant", f"{name}_mean_valence",
                   f"{name}_negative_turns"]
    header += ["error", "message", "result"]
    rows = []
    for path in paths:
        r = latest.get(str(path), {})
        by_name = {p["participant"]: p for p in r.get("participants") or []}
        row: list[Any] = [str(path), r.get("ok", ""), r.get("duration_s", ""), r.get("segments", ""),
                          r.get("model", "")]
        for name in names:
            p = by_name.get(name)
            row += ([p["talk_time_s"], p.get("uncertain_s", ""), p["dominant"], p["mean_valence"], p["negative_turns"]]
                    if p else [""] * 5)
        row += [r.get("error", ""), r.get("message", ""), r.get("result", "")]
        rows.append(row)
    return header, rows


def write_summary(paths: Sequence[Path], results: Path, target: Path) -> None:
    header, rows = summary_rows(paths, read_records(results))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_output(target.parent, target, buffer.getvalue())


def output_dir(spec: AnalyzeBatchSpec, settings: Settings, job_id: str) -> Path:
    return Path(spec.output_dir) if spec.output_dir else settings.artifacts_dir / "jobs" / job_id


def analyze_files(ctx: JobContext, settings: Settings) -> dict[str, Any]:
    spec = ctx.spec
    assert isinstance(spec, AnalyzeBatchSpec)
    inputs = resolve_inputs(spec.inputs, spec.manifest, ctx.paths)
    files = [CallFile.of(p) for p in inputs.files]
    listed = [f.path for f in files] + [Path(r.path) for r in inputs.refused]
    refused = [refused_record(r, ctx.job.id) for r in inputs.refused]
    keys = {f.key for f in files} | {r["key"] for r in refused}
    out = output_dir(spec, settings, ctx.job.id)
    results = out / RESULTS
    # redo_finished ignores earlier jobs' records, but a redelivery of this job keeps what it already redid
    done = finished(r for r in read_records(results) if not spec.redo_finished or r.get("job_id") == ctx.job.id)
    todo = [f for f in files if f.key not in done]
    address = settings.address("gateway")
    ctx.result = {"output_dir": str(out), "results": str(results), "summary": str(out / SUMMARY),
                  "files": len(keys), "skipped": len(files) - len(todo), "gateway": address}
    with JsonlWriter(results, out) as writer:
        for record in refused:
            if record["key"] not in done:
                writer.write(record)
    ctx.progress(len(keys) - len(todo), len(keys),
                 f"{len(keys) - len(todo)} already done or refused" if len(todo) < len(keys) else "analysing")
    if todo:
        try:
            wait_healthy(address, HEALTH_TIMEOUT_S, service="ser.v1.CallAnalysis", settings=settings)
        except TimeoutError as exc:
            raise ConnectionError(f"the gateway at {address} does not serve CallAnalysis: {exc}") from exc
        options = analyze_options(spec.options, spec.model)
        with channel(address, settings) as ch:
            analyzer = CallAnalyzer(analysis_pb2_grpc.CallAnalysisStub(ch), options, out,
                                    timeout_s=spec.call_timeout_s, attempts=spec.attempts, job_id=ctx.job.id)
            try:
                _fan_out(ctx, analyzer, todo, results, spec.concurrency, len(keys))
            finally:
                write_summary(listed, results, out / SUMMARY)
    else:
        write_summary(listed, results, out / SUMMARY)
    latest = {r["key"]: r for r in read_records(results) if r.get("key") in keys}
    failed = sorted((r["path"], r["error"]) for r in latest.values() if not r.get("ok"))
    return {**ctx.result, "completed": sum(bool(r.get("ok")) for r in latest.values()), "failed": len(failed),
            "errors": [f"{p}: {e}" for p, e in failed[:20]]}


def _fan_out(ctx: JobContext, analyzer: CallAnalyzer, todo: Sequence[CallFile], results: Path, concurrency: int,
             total: int) -> None:
    """Keep ``concurrency`` files in flight; only this thread writes records and reports progress."""
    count = total - len(todo)
    pending = iter(todo)
    running: dict[Future, CallFile] = {}
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="analyze")
    try:
        with JsonlWriter(results, results.parent) as writer:
            while True:
                while len(running) < concurrency and (item := next(pending, None)) is not None:
                    running[pool.submit(analyzer, item)] = item
                if not running:
                    return
                finished_now, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished_now:
                    item = running.pop(future)
                    record = future.result()
                    writer.write(record)
                    count += 1
                    ctx.progress(count, total, f"{item.path.name}: {'ok' if record['ok'] else record['error']}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@app.task(name="ser.analyze_batch", bind=True)
def analyze_batch(self: Any, job_id: str) -> dict[str, Any]:
    return run_task(self, job_id, analyze_files)
