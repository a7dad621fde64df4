"""Serving benchmark: AnalyzeCall speed per pipeline mode, Predict latency per runtime, batch scaling
with Celery workers, and peak memory of every service process.

Run: ``.venv/bin/python tests/bench/bench_serving.py`` (``make bench`` runs it too). It serves the shipped
(bundled) model ``--model`` (default ``default``) from a scratch registry, where it also republishes it
for ONNX Runtime int8. Each service is its own process (``ser serve NAME``) on free ports, so peak memory
(VmHWM) is per process. Parts:

- AnalyzeCall of a 60 s stereo call (``--repeats`` times: p50/p95, real-time factor) and AnalyzeUpload of
  a ``--long-minutes`` (60) stereo call, for each ``SER_PIPELINE`` mode the code has (``--pipelines``,
  default ``$SER_PIPELINE`` else inprocess,services; a mode the gateway does not know yet is skipped,
  and the report says so);
- Predict of one 3 s utterance at 1, 8 and 32 clients for torch, onnxruntime (fp32) and int8, plus torch
  with dynamic batching off at 32 clients;
- batch analysis of ``--calls`` (100) short calls as two analyze_batch jobs, with 1 then 2 Celery workers
  (Redis DB ``SER_BENCH_REDIS_URL``, default redis://127.0.0.1:6379/15, flushed first): the speed-up;
- AnalyzeStream end-of-speech-to-result latency at real-time pace.

Writes serving.json + serving.md to tests/bench/results with SER_PUBLISH_RESULTS=1 (else
artifacts/test-results, or ``--out``). ``tests/bench/capacity.py`` turns serving.json into the capacity
table of docs/capacity.md.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, emotion_pb2, emotion_pb2_grpc  # noqa: E402

from services.common.client import channel, wait_healthy  # noqa: E402
from shared.assets import sample_call_path  # noqa: E402
from shared.errors import NotFound  # noqa: E402
from shared.registry import ModelRegistry  # noqa: E402
from shared.settings import PIPELINES, Settings  # noqa: E402
from tests.helpers import free_port  # noqa: E402

CALL_SECONDS = 60.0
UTTERANCE_SECONDS = 3.0
CONCURRENCY = (1, 8, 32)
RUNTIMES = ("torch", "onnxruntime", "int8")
GOALS = {"analyze_call_x_real_time": 50.0, "predict_p95_ms_1_client": 100.0, "two_workers_speedup": 1.8}
CHUNK_MS = 100
VAD_PAD_MS = 100


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def peak_memory_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set, MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far, s (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_audio_second(services: list[Service], before: dict[str, float], audio_s: float,
                         idle: dict[str, float] | None = None, wall_s: float = 0.0) -> dict[str, float]:
    """Each service's CPU seconds per second of call audio over a phase (the capacity model's input),
    less ``idle`` CPU seconds per second x ``wall_s`` (what the process burns with no work at all)."""
    idle = idle or {}
    return {s.name: round(max(0.0, s.cpu_s() - before[s.name] - idle.get(s.name, 0.0) * wall_s) / audio_s, 5)
            for s in services}


def idle_cpu_rate(services: list[Service], seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second each process uses while nothing is asked of it (health, pollers, threads)."""
    before = {s.name: s.cpu_s() for s in services}
    time.sleep(seconds)
    return {s.name: round((s.cpu_s() - before[s.name]) / seconds, 5) for s in services}


# ---------------------------------------------------------------------------------------------- model
def choose_model(name: str, scratch: Path) -> tuple[Path, str, str]:
    """(artifacts dir, model name, note): the registry's model, else an untrained tiny one."""
    from shared.registry.bundled import seed_registry

    artifacts = Settings.from_env().artifacts_dir.resolve()
    seed_registry(artifacts / "registry")  # as `ser serve inference` does: the committed default model
    try:
        card = ModelRegistry(artifacts / "registry").card(name, "default")
        return artifacts, name, (f"registry model {name}:{card.version} ({card.architecture}, "
                                 f"{card.num_parameters:,} params)")
    except NotFound:
        pass
    import torch

    from shared.features.image import ImageConfig
    from shared.features.inputs import ModelInputConfig
    from shared.models.registry import build_model
    from shared.registry import ModelCard

    torch.manual_seed(0)
    inputs = ModelInputConfig(kind="image", image=ImageConfig(size=224, channels=1), window_s=2.0, stride_s=1.0)
    labels = ("angry", "happy", "neutral", "sad")
    model = build_model("cct_tiny", len(labels), in_chans=1)
    card = ModelCard.describe(model, architecture="cct_tiny", labels=labels, feature_config=inputs.to_dict(),
                              model_config={"in_chans": 1}, notes="untrained, for the serving benchmark only")
    ModelRegistry(scratch / "registry").publish(model, card, name=name, alias="default")
    return scratch, name, (f"no model {name!r} under {artifacts / 'registry'}: an UNTRAINED cct_tiny "
                           f"({card.num_parameters:,} params, 224x224 images of 2 s windows) was published to a temp "
                           "registry; timings and memory are real, the emotions are not")


# ---------------------------------------------------------------------------------------------- services
@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    address: str

    def peak_mb(self) -> float:
        return peak_memory_mb(self.proc.pid)

    def cpu_s(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_service(name: str, env: dict[str, str], logs: Path, health: str = "", timeout_s: float = 180.0) -> Service:
    address = env[f"SER_{name.upper()}_ADDR"]
    log = open(logs / f"{name}-{time.time_ns()}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", name], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(address, timeout_s, service=health, settings=Settings.from_env(env))
    except TimeoutError:
        proc.kill()
        raise SystemExit(f"{name} did not become healthy; its log:\n{Path(log.name).read_text()[-3000:]}") from None
    return Service(name, proc, address)


def base_env(artifacts: Path, model: str) -> dict[str, str]:
    env = {**os.environ, "SER_ARTIFACTS_DIR": str(artifacts), "SER_DEFAULT_MODEL": model, "SER_LOG_LEVEL": "WARNING",
           "SER_TORCH_THREADS": os.environ.get("SER_TORCH_THREADS", "1"), "OMP_NUM_THREADS": "1",
           "SER_MAX_QUEUE": "1024", "SER_GRPC_WORKERS": "48", "PYTHONPATH": str(REPO)}
    for name in ("gateway", "preprocess", "inference", "features", "speaker"):
        env[f"SER_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    return env


def batch_size_totals(metrics_port: int) -> tuple[float, float]:
    """(sum, count) of the inference service's batch-size histogram."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("ser_inference_batch_size_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("ser_inference_batch_size_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


# ---------------------------------------------------------------------------------------------- audio
def long_call(seconds: float) -> tuple[bytes, float]:
    """The sample call tiled to ``seconds`` of stereo 16 kHz audio, as WAV bytes."""
    from tests.long_calls import call_bytes

    data = call_bytes(seconds)
    return data, sf.info(io.BytesIO(data)).duration


def speech_segments(count: int) -> list[bytes]:
    """``count`` 3 s mono 16 kHz float32 clips from the sample call's channels (raw PCM payloads)."""
    import soxr

    data, rate = sf.read(sample_call_path(), dtype="float32", always_2d=True)
    mono = [soxr.resample(data[:, c], rate, 16000).astype(np.float32) for c in range(data.shape[1])]
    n = int(UTTERANCE_SECONDS * 16000)
    clips = []
    for i in range(count):
        x = mono[i % len(mono)]
        start = (i * 7919) % (len(x) - n)
        clips.append(np.ascontiguousarray(x[start : start + n]).tobytes())
    return clips


# ---------------------------------------------------------------------------------------------- phases
def bench_analyze_call(address: str, settings: Settings, model: str, calls: int, budget_s: float,
                       call_seconds: float = CALL_SECONDS) -> dict[str, Any]:
    data, seconds = long_call(call_seconds)
    request = analysis_pb2.AnalyzeCallRequest(
        audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data)),
        options=analysis_pb2.AnalyzeOptions(model=common_pb2.ModelRef(name=model)), call_id="bench")
    with channel(address, settings) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        warm = stub.AnalyzeCall(request, timeout=600)
        latencies, server = [], []
        deadline = time.monotonic() + budget_s
        while len(latencies) < calls and (time.monotonic() < deadline or len(latencies) < 2):
            started = time.perf_counter()
            reply = stub.AnalyzeCall(request, timeout=600)
            latencies.append(time.perf_counter() - started)
            server.append(reply.processing_s)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    return {"call_seconds": round(seconds, 2), "channels": 2, "segments": len(warm.timeline), "calls": len(latencies),
            "latency_s": {"p50": round(p50, 3), "p95": round(p95, 3), "min": round(min(latencies), 3),
                          "max": round(max(latencies), 3)},
            "server_processing_s_p50": round(percentile(server, 50), 3),
            "real_time_factor": {"p50": round(p50 / seconds, 4), "p95": round(p95 / seconds, 4)},
            "x_real_time_p50": round(seconds / p50, 1)}


def audio_requests(model: str, count: int = 64) -> list[emotion_pb2.PredictRequest]:
    fmt = common_pb2.PcmFormat(sample_rate_hz=16000, channels=1, encoding=common_pb2.PCM_ENCODING_F32LE)
    return [emotion_pb2.PredictRequest(model=common_pb2.ModelRef(name=model), request_id=str(i),
                                       audio=common_pb2.AudioPayload(raw=common_pb2.RawPcm(format=fmt, data=c)))
            for i, c in enumerate(speech_segments(count))]


def bench_predict(address: str, settings: Settings, requests: list[emotion_pb2.PredictRequest], metrics_port: int,
                  clients: int, max_requests: int, budget_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    issued = iter(range(max_requests))
    with channel(address, settings) as ch:
        stub = emotion_pb2_grpc.EmotionStub(ch)
        stub.Predict(requests[0], timeout=60)  # warm-up
        before = batch_size_totals(metrics_port)
        deadline = time.monotonic() + budget_s

        def client() -> None:
            while time.monotonic() < deadline:
                with lock:
                    i = next(issued, None)
                if i is None:
                    return
                started = time.perf_counter()
                try:
                    stub.Predict(requests[i % len(requests)], timeout=60)
                    with lock:
                        latencies.append(time.perf_counter() - started)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    code = exc.code().name if isinstance(exc, grpc.Call) else type(exc).__name__
                    with lock:
                        errors.append(code)

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for _ in range(clients):
                pool.submit(client)
        elapsed = time.perf_counter() - started
        after = batch_size_totals(metrics_port)
    batches = after[1] - before[1]
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "seconds": round(elapsed, 2),
            "throughput_rps": round(len(latencies) / elapsed, 2),
            "latency_ms": {"p50": round(1000 * percentile(latencies, 50), 1),
                           "p95": round(1000 * percentile(latencies, 95), 1)},
            "mean_batch_size": round((after[0] - before[0]) / batches, 2) if batches else None,
            "error_codes": sorted(set(errors))[:5]}


def stream_requests(sent: list[tuple[int, float]], model: str, pace: float
                    ) -> Iterator[analysis_pb2.AnalyzeStreamRequest]:
    data, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=data.shape[1], encoding=common_pb2.PCM_ENCODING_S16LE)
    options = analysis_pb2.AnalyzeOptions(model=common_pb2.ModelRef(name=model))
    yield analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig(format=fmt, options=options,
                                                                                    call_id="stream"))
    step = rate * CHUNK_MS // 1000
    t0 = time.perf_counter()
    for k, start in enumerate(range(0, len(data), step)):
        target = t0 + k * CHUNK_MS / 1000.0 / pace  # real-time pacing without drift
        time.sleep(max(0.0, target - time.perf_counter()))
        yield analysis_pb2.AnalyzeStreamRequest(chunk=np.ascontiguousarray(data[start : start + step]).tobytes())
        sent.append((1000 * min(len(data), start + step) // rate, time.perf_counter()))


def bench_stream(address: str, settings: Settings, model: str, pace: float = 1.0) -> dict[str, Any]:
    sent: list[tuple[int, float]] = []
    server, client = [], []
    with channel(address, settings) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        for message in stub.AnalyzeStream(stream_requests(sent, model, pace), timeout=300):
            if message.WhichOneof("kind") != "entry":
                continue
            now = time.perf_counter()
            end_ms = message.entry.segment.end_ms - VAD_PAD_MS  # segments are padded past the speech
            spoke_until = next((t for ms, t in sent if ms >= end_ms), sent[-1][1])
            client.append(1000 * (now - spoke_until))
            server.append(message.latency_ms)
    return {"pace": f"{pace:g}x real time", "chunk_ms": CHUNK_MS, "segments": len(client),
            "end_of_speech_to_result_ms": {"p50": round(percentile(client, 50)), "p95": round(percentile(client, 95)),
                                           "max": round(max(client)) if client else None},
            "segment_closed_to_sent_ms": {"p50": round(percentile(server, 50)), "max": round(max(server))
                                          if server else None},
            "note": "end of speech = the chunk holding the segment's end minus the VAD's 100 ms pad; it includes "
                    "the VAD's 300 ms of silence needed to close a segment"}


def pipeline_available(mode: str) -> bool:
    """A SER_PIPELINE mode the settings accept (a typo in --pipelines is skipped and reported)."""
    return mode in PIPELINES


def bench_long_call(env: dict[str, str], logs: Path, model: str, scratch: Path, minutes: float) -> dict[str, Any]:
    """One call of ``minutes`` uploaded from disk (AnalyzeUpload) to a fresh stack: bench_long_call's measurement."""
    from tests.bench.bench_long_call import bench_call
    from tests.long_calls import write_call

    path = scratch / f"call-{minutes:g}min.wav"
    seconds = write_call(path, 60.0 * minutes)
    spool = scratch / "spool"
    spool.mkdir(exist_ok=True)
    try:
        return bench_call(path, seconds, env, logs, model, spool)
    finally:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- batch workers
def start_worker(env: dict[str, str], logs: Path, tag: str) -> Service:
    """A Celery worker taking one job at a time (solo pool, so its own VmHWM is the work's peak)."""
    log = open(logs / f"worker-{tag}-{time.time_ns()}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "services.jobs.app", "worker", "-P", "solo",
                             "-Q", "batch", "-n", f"bench-{tag}-{os.getpid()}@%h",
                             "-l", "WARNING"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Service(f"worker {tag}", proc, "")


def wait_workers(settings: Settings, count: int, timeout_s: float = 120.0) -> None:
    from services.jobs.app import make_app

    app = make_app(settings)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
        time.sleep(0.5)
    raise SystemExit(f"{count} Celery worker(s) did not answer a ping in {timeout_s:.0f} s")


def run_batch(env: dict[str, str], settings: Settings, files: list[Path], jobs: int, out: Path) -> dict[str, Any]:
    """``files`` split into ``jobs`` analyze_batch jobs (one call at a time each); wall time until all end."""
    from services.jobs.app import make_app
    from services.jobs.client import JobClient
    from services.jobs.store import JobState, JobStore

    client = JobClient(make_app(settings), JobStore.from_url(settings.redis_url), settings)
    started = time.perf_counter()
    ids = [client.submit("analyze_batch", {"inputs": [str(f) for f in files[k::jobs]], "concurrency": 1,
                                           "output_dir": str(out / f"job{k}"), "gateway": env["SER_GATEWAY_ADDR"]}).id
           for k in range(jobs)]
    terminal = {JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED}
    states = {}
    while len(states) < len(ids):
        for job_id in ids:
            job = client.get(job_id)
            if job.state in terminal:
                states[job_id] = job.state.value
        time.sleep(0.2)
    wall = time.perf_counter() - started
    return {"calls": len(files), "jobs": jobs, "wall_s": round(wall, 2), "calls_per_s": round(len(files) / wall, 3),
            "job_states": sorted(states.values())}


def bench_batch(env: dict[str, str], logs: Path, scratch: Path, calls: int, call_seconds: float
                ) -> tuple[dict[str, Any], dict[str, float]]:
    """The same ``calls`` calls with 1 worker, then with 2 (two jobs either way); the speed-up ratio."""
    from tests.long_calls import write_call

    folder = scratch / "batch-calls"
    folder.mkdir(exist_ok=True)
    files = []
    for n in range(calls):
        files.append(folder / f"call{n:04d}.wav")
        write_call(files[-1], call_seconds)
    settings = Settings.from_env(env)
    import redis

    r = redis.Redis.from_url(settings.redis_url)
    r.flushdb()  # the bench's own scratch DB (SER_BENCH_REDIS_URL)
    runs, peaks, worker_cpu = {}, {}, 0.0
    for workers in (1, 2):
        started = [start_worker(env, logs, f"{workers}-{k}") for k in range(workers)]
        try:
            wait_workers(settings, workers)
            runs[workers] = run_batch(env, settings, files, 2, scratch / f"batch-out-{workers}")
            print(f"{workers} worker(s): {json.dumps(runs[workers])}", flush=True)
            worker_cpu += sum(w.cpu_s() for w in started)
            for w in started:
                peaks[f"celery {w.name}"] = round(w.peak_mb(), 1)
        finally:
            for w in started:
                w.stop()
    speedup = runs[1]["wall_s"] / runs[2]["wall_s"] if runs[2]["wall_s"] else float("nan")
    jobs = runs[1]["jobs"] + runs[2]["jobs"]
    keys = list(r.scan_iter(count=1000))
    redis_per_job = sum(int(r.memory_usage(k) or 0) for k in keys) / jobs  # what the jobs left in Redis
    return {"call_seconds": call_seconds, "one_worker": runs[1], "two_workers": runs[2],
            "speedup": round(speedup, 2), "redis_bytes_per_job": round(redis_per_job),
            "redis_keys_per_job": round(len(keys) / jobs, 1), "calls_per_job": calls / 2,
            "worker_cpu_s_per_audio_s": round(worker_cpu / (2 * calls * call_seconds), 5)}, peaks


# ---------------------------------------------------------------------------------------------- report
def goal_rows(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(goal, target, measured, met) for the issue's three goals on this machine."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for mode, part in result["pipelines"].items():
        x = part["analyze_call_60s"]["x_real_time_p50"]
        rows.append((f"AnalyzeCall 60 s ({mode})", f">= {GOALS['analyze_call_x_real_time']:g}x real time",
                     f"{x}x", x >= GOALS["analyze_call_x_real_time"]))
    for row in result["predict"]:
        if row["clients"] == 1 and row["max_batch_size"] > 1:
            p95 = row["latency_ms"]["p95"]
            rows.append((f"3 s utterance p95, 1 client ({row['runtime']})",
                         f"<= {GOALS['predict_p95_ms_1_client']:g} ms", f"{p95} ms",
                         p95 <= GOALS["predict_p95_ms_1_client"]))
    if result.get("batch"):
        ratio = result["batch"]["speedup"]
        rows.append(("batch: 2 workers vs 1", f">= {GOALS['two_workers_speedup']:g}x", f"{ratio}x",
                     ratio >= GOALS["two_workers_speedup"]))
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Serving benchmark", "",
        f"Machine: {result['machine']}; load average {result['load_average']} at start. Device: {result['device']} "
        "(no GPU is lent to this project's CPU runs). "
        f"Model: {result['model']}.", "",
        f"Run `{result['command']}`; {result['wall_s']:.0f} s wall. Each service is its own process; the benchmark "
        "client shares the same cores, so absolute numbers are pessimistic for a dedicated host.", "",
        "## Goals", "", "| goal | target | measured | met |", "|---|---|---|---|",
        *[f"| {g} | {t} | {m} | {'yes' if ok else 'NO'} |" for g, t, m, ok in goal_rows(result)], "",
        "## AnalyzeCall (stereo calls)", "",
        "| pipeline | call | calls | p50 s | p95 s | real-time factor p50 | p95 | x real time | segments |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, part in result["pipelines"].items():
        c = part["analyze_call_60s"]
        lines.append(f"| {mode} | {c['call_seconds']:.0f} s | {c['calls']} | {c['latency_s']['p50']} | "
                     f"{c['latency_s']['p95']} | {c['real_time_factor']['p50']} | {c['real_time_factor']['p95']} | "
                     f"{c['x_real_time_p50']} | {c['segments']} |")
        if part.get("long_call"):
            lc = part["long_call"]
            lines.append(f"| {mode} | {lc['call_seconds'] / 60:.0f} min (upload) | 1 | {lc['wall_s']} | - | "
                         f"{lc['real_time_factor']} | - | {lc['x_real_time']} | {lc['segments']} |")
    for mode in result["skipped_pipelines"]:
        lines.append(f"| {mode} | skipped: this code has no SER_PIPELINE={mode} yet | | | | | | | |")
    if result["predict"]:
        lines += ["", f"## Predict, one {UTTERANCE_SECONDS:g} s utterance per request", "",
                  "Raw PCM in, so the inference service decodes, computes the features and the speaker embedding, then "
                  "batches the forward pass. Max batch 1 = dynamic batching off.", "",
                  "| runtime | max batch | clients | requests | req/s | p50 ms | p95 ms | mean batch | errors |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for row in result["predict"]:
        lines.append(f"| {row['runtime']} | {row['max_batch_size']} | {row['clients']} | {row['requests']} | "
                     f"{row['throughput_rps']} | {row['latency_ms']['p50']} | {row['latency_ms']['p95']} | "
                     f"{row['mean_batch_size']} | {row['errors']} |")
    if result.get("batch"):
        b = result["batch"]
        lines += ["", f"## Batch analysis: {b['one_worker']['calls']} calls of {b['call_seconds']:g} s", "",
                  "Two analyze_batch jobs (one call at a time each) on the same services; Celery solo-pool workers.",
                  "", "| workers | wall s | calls/s |", "|---|---|---|",
                  f"| 1 | {b['one_worker']['wall_s']} | {b['one_worker']['calls_per_s']} |",
                  f"| 2 | {b['two_workers']['wall_s']} | {b['two_workers']['calls_per_s']} |", "",
                  f"Speed-up with 2 workers: {b['speedup']}x."]
    lines += ["", "## Peak memory (VmHWM) per service process", "", "| process | MiB |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in result["peak_memory_mb"].items()]
    stream = result.get("stream")
    if stream:
        e2r = stream["end_of_speech_to_result_ms"]
        lines += ["", f"## AnalyzeStream at {stream['pace']} ({stream['segments']} segments, "
                  f"{stream['chunk_ms']} ms chunks)", "",
                  f"End of speech to result: p50 {e2r['p50']} ms, p95 {e2r['p95']} ms, max {e2r['max']} ms. "
                  f"Segment closed to entry sent (server): p50 {stream['segment_closed_to_sent_ms']['p50']} ms. "
                  f"{stream['note']}."]
    if result.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in result["notes"]]]
    return "\n".join(lines) + "\n"


def prepare_registry(model: str, scratch: Path) -> tuple[Path, str]:
    """A scratch registry with the shipped (bundled) models and ``model`` republished for ONNX Runtime
    int8 as ``<model>_int8``; (artifacts dir, note on the model)."""
    from shared.registry.bundled import seed_registry
    from shared.registry.onnx_publish import publish_onnx

    registry = ModelRegistry(scratch / "registry")
    seed_registry(registry.root)
    try:
        card = registry.card(model, "default")
    except NotFound:
        raise SystemExit(f"no bundled model {model!r}; models: {registry.names()}") from None
    if f"{model}_int8" not in registry.names():
        publish_onnx(registry, model, "default", as_name=f"{model}_int8", int8=True, alias="default")
    return scratch, (f"shipped model {model}:{card.version} ({card.architecture}, {card.num_parameters:,} params, "
                     f"{card.input_kind} inputs)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", help="bundled model name (default: default, what ships)")
    p.add_argument("--repeats", type=int, default=8, help="measured AnalyzeCalls of the 60 s call (after a warm-up)")
    p.add_argument("--call-seconds", type=float, default=CALL_SECONDS, help="the short call's length")
    p.add_argument("--long-minutes", type=float, default=60.0, help="the long call's length; 0 skips it")
    p.add_argument("--pipelines", default=os.environ.get("SER_PIPELINE", ",".join(PIPELINES)),
                   help="SER_PIPELINE modes to measure (default: $SER_PIPELINE, else all); absent ones are skipped")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), help="Predict runtimes: torch,onnxruntime,int8")
    p.add_argument("--cell-requests", type=int, default=400, help="most Predict requests per cell")
    p.add_argument("--cell-seconds", type=float, default=20.0, help="longest a Predict cell runs")
    p.add_argument("--calls", type=int, default=100, help="batch analysis: calls per run; 0 skips it")
    p.add_argument("--batch-call-seconds", type=float, default=20.0, help="batch analysis: each call's length")
    p.add_argument("--no-stream", action="store_true", help="skip the AnalyzeStream latency phase")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for serving.json/md (default: tests/bench/results with SER_PUBLISH_RESULTS=1, "
                        "else artifacts/test-results)")
    p.add_argument("--note", action="append", default=[], help="a line for the report's notes (repeatable)")
    args = p.parse_args()
    started, load = time.perf_counter(), " ".join(f"{v:.2f}" for v in os.getloadavg())
    scratch = Path(tempfile.mkdtemp(prefix="ser-bench-serving-"))
    logs = scratch / "logs"
    logs.mkdir()
    artifacts, note = prepare_registry(args.model, scratch)
    print(note, flush=True)
    env = {**base_env(artifacts, args.model), "SER_DATA_ROOTS": str(scratch),
           "SER_REDIS_URL": os.environ.get("SER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")}
    settings = Settings.from_env(env)
    wanted = [m for m in args.pipelines.split(",") if m]
    modes = [m for m in wanted if pipeline_available(m)]
    skipped = [m for m in wanted if m not in modes]
    for mode in skipped:
        print(f"pipeline {mode}: skipped (this code has no SER_PIPELINE={mode} yet)", flush=True)
    peaks: dict[str, float] = {}
    pipelines: dict[str, dict[str, Any]] = {}
    stream = batch = None
    for mode in modes:
        mode_env = {**env, "SER_PIPELINE": mode}
        names = ["preprocess", *(["features", "speaker"] if mode == "services" else []), "inference", "gateway"]
        services: list[Service] = []
        try:
            for name in names:
                health = f"ser.v1.Emotion/{args.model}" if name == "inference" else ""
                services.append(start_service(name, mode_env, logs, health=health))
            print(f"[{mode}] AnalyzeCall, {args.call_seconds:g} s stereo call x {args.repeats} ...", flush=True)
            before = {s.name: s.cpu_s() for s in services}
            call = bench_analyze_call(env["SER_GATEWAY_ADDR"], settings, args.model, args.repeats, budget_s=600,
                                      call_seconds=args.call_seconds)
            call["cpu_s_per_audio_s"] = cpu_per_audio_second(services, before, (call["calls"] + 1) * call["call_seconds"])
            part: dict[str, Any] = {"analyze_call_60s": call}
            print(json.dumps(call), flush=True)
            if stream is None and not args.no_stream:
                print(f"[{mode}] AnalyzeStream at real-time pace ...", flush=True)
                idle = idle_cpu_rate(services)
                before, wall = {s.name: s.cpu_s() for s in services}, time.perf_counter()
                stream = {**bench_stream(env["SER_GATEWAY_ADDR"], settings, args.model), "pipeline": mode}
                stream["cpu_s_per_audio_s"] = cpu_per_audio_second(services, before, sf.info(sample_call_path()).duration,
                                                                   idle, time.perf_counter() - wall)
                stream["idle_cpu_s_per_s"] = idle
                print(json.dumps(stream), flush=True)
            if batch is None and args.calls > 0:
                print(f"[{mode}] batch analysis of {args.calls} calls, 1 then 2 workers ...", flush=True)
                before = {s.name: s.cpu_s() for s in services}
                batch, worker_peaks = bench_batch(mode_env, logs, scratch, args.calls, args.batch_call_seconds)
                batch["pipeline"] = mode
                batch["cpu_s_per_audio_s"] = {
                    **cpu_per_audio_second(services, before, 2 * args.calls * args.batch_call_seconds),
                    "worker": batch.pop("worker_cpu_s_per_audio_s")}
                peaks.update(worker_peaks)
            peaks.update({f"{s.name} ({mode})": round(s.peak_mb(), 1) for s in services})
        finally:
            for s in services:
                s.stop()
        if args.long_minutes > 0:
            print(f"[{mode}] AnalyzeUpload of a {args.long_minutes:g} min stereo call ...", flush=True)
            extra = [start_service(n, mode_env, logs) for n in ("features", "speaker")] if mode == "services" else []
            try:
                part["long_call"] = bench_long_call(mode_env, logs, args.model, scratch, args.long_minutes)
            finally:
                for s in extra:
                    s.stop()
            print(json.dumps(part["long_call"]), flush=True)
            peaks.update({f"{name} ({mode}, {args.long_minutes:g} min call)": mb
                          for name, mb in part["long_call"]["peak_rss_mb"].items()})
        pipelines[mode] = part

    predict: list[dict[str, Any]] = []
    requests = audio_requests(args.model)
    for runtime in [r for r in args.runtimes.split(",") if r]:
        model = f"{args.model}_int8" if runtime == "int8" else args.model
        for batch_size in ((32, 1) if runtime == "torch" else (32,)):
            metrics_port = free_port()
            inference_env = {**env, "SER_MAX_BATCH_SIZE": str(batch_size), "SER_METRICS_PORT": str(metrics_port),
                             "SER_DEFAULT_MODEL": model, "SER_RUNTIME": "onnxruntime" if runtime != "torch" else "torch"}
            inference = start_service("inference", inference_env, logs, health=f"ser.v1.Emotion/{model}")
            try:
                runtime_requests = [emotion_pb2.PredictRequest(
                    model=common_pb2.ModelRef(name=model), request_id=r.request_id, audio=r.audio) for r in requests]
                for clients in (CONCURRENCY if batch_size > 1 else CONCURRENCY[-1:]):
                    cell = bench_predict(env["SER_INFERENCE_ADDR"], settings, runtime_requests, metrics_port, clients,
                                         args.cell_requests, args.cell_seconds)
                    cell = {"runtime": runtime, "max_batch_size": batch_size, **cell}
                    print(json.dumps(cell), flush=True)
                    predict.append(cell)
                peaks[f"inference ({runtime}, max batch {batch_size})"] = round(inference.peak_mb(), 1)
            finally:
                inference.stop()
    import torch

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other work while measured), "
                   f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": load, "device": "cuda" if torch.cuda.is_available() else "cpu", "model": note,
        "command": "python " + shlex.join(["tests/bench/bench_serving.py", *sys.argv[1:]]),
        "pipelines": pipelines, "skipped_pipelines": skipped, "predict": predict, "batch": batch, "stream": stream,
        "peak_memory_mb": peaks, "wall_s": round(time.perf_counter() - started, 1),
        "notes": [f"services ran with SER_GRPC_WORKERS={env['SER_GRPC_WORKERS']}, SER_MAX_QUEUE_DELAY_MS "
                  f"{env.get('SER_MAX_QUEUE_DELAY_MS', '5 (default)')}, {env['SER_TORCH_THREADS']} torch thread(s); "
                  "onnxruntime: CPUExecutionProvider, 1 intra-op thread", *args.note],
    }
    result["goals"] = [{"goal": g, "target": t, "measured": m, "met": ok} for g, t, m, ok in goal_rows(result)]
    from tests.helpers import results_path

    json_path = args.out / "serving.json" if args.out else results_path("serving.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2))
    json_path.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {json_path} and {json_path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
