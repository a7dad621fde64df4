"""Serving benchmark: AnalyzeCall latency and real-time factor, Predict throughput with and without
dynamic batching, peak memory per service, and AnalyzeStream end-of-speech-to-result latency.

Run: ``.venv/bin/python tests/bench/bench_serving.py [--model NAME]``. Serves the registry model
NAME (default ``default``) from ``$SER_ARTIFACTS_DIR/registry``; without one it publishes an
untrained ``cct_tiny`` into a temp registry and says so (latency and memory are then real, the
emotions are not). Each service runs as its own process (``ser serve NAME``) on free ports, so
peak memory (VmHWM) is per service. Every phase is bounded in requests and seconds. Writes
``tests/bench/results/serving.json`` and ``serving.md``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
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
from shared.settings import Settings  # noqa: E402
from tests.helpers import free_port  # noqa: E402

RESULTS = REPO / "tests" / "bench" / "results"
CALL_SECONDS = 60.0
SEGMENT_SECONDS = 2.0
CONCURRENCY = (1, 8, 32)
BATCH_SIZES = (32, 1)
CHUNK_MS = 100
VAD_PAD_MS = 100


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def peak_memory_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set, MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024.0


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
    for name in ("gateway", "preprocess", "inference"):
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
    """The sample call looped to ``seconds`` of stereo audio, as WAV bytes."""
    data, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    reps = int(np.ceil(seconds * rate / len(data)))
    looped = np.tile(data, (reps, 1))[: int(seconds * rate)]
    buffer = io.BytesIO()
    sf.write(buffer, looped, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), len(looped) / rate


def speech_segments(count: int) -> list[bytes]:
    """``count`` 2 s mono 16 kHz float32 clips from the sample call's channels (raw PCM payloads)."""
    import soxr

    data, rate = sf.read(sample_call_path(), dtype="float32", always_2d=True)
    mono = [soxr.resample(data[:, c], rate, 16000).astype(np.float32) for c in range(data.shape[1])]
    n = int(SEGMENT_SECONDS * 16000)
    clips = []
    for i in range(count):
        x = mono[i % len(mono)]
        start = (i * 7919) % (len(x) - n)
        clips.append(np.ascontiguousarray(x[start : start + n]).tobytes())
    return clips


# ---------------------------------------------------------------------------------------------- phases
def bench_analyze_call(address: str, settings: Settings, model: str, calls: int, budget_s: float) -> dict[str, Any]:
    data, seconds = long_call(CALL_SECONDS)
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


def feature_requests(artifacts: Path, model: str, count: int = 64) -> list[emotion_pb2.PredictRequest]:
    """One window of precomputed model input per request (the Features service's output), so the
    inference service only batches and runs the model: the pure effect of dynamic batching."""
    from shared.features.inputs import InputBuilder, ModelInputConfig

    card = ModelRegistry(artifacts / "registry").card(model, "default")
    config = ModelInputConfig.from_dict(card.feature_config)
    n = config.policy.length
    clips = [np.frombuffer(c, dtype=np.float32) for c in speech_segments(count)]
    windows = np.stack([np.pad(c, (0, max(0, n - len(c))))[:n] for c in clips])
    x = InputBuilder(config, device="cpu").from_windows(windows).astype(np.float32)
    return [emotion_pb2.PredictRequest(
        model=common_pb2.ModelRef(name=model), request_id=str(i),
        features=common_pb2.Tensor(shape=list(w.shape), dtype=common_pb2.DTYPE_FLOAT32, data=w.tobytes()),
        feature_config=common_pb2.FeatureConfigRef(hash=card.feature_config_hash)) for i, w in enumerate(x)]


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


# ---------------------------------------------------------------------------------------------- report
def markdown(result: dict[str, Any]) -> str:
    call, stream, mem = result["analyze_call"], result["stream"], result["peak_memory_mb"]
    lines = [
        "# Serving benchmark", "",
        f"Machine: {result['machine']}. Device: {result['device']}. Model: {result['model']}.", "",
        f"Run `{result['command']}`; {result['wall_s']:.0f} s wall. Each service is its own process; the benchmark "
        "client shares the same cores, so absolute numbers are pessimistic for a dedicated host.", "",
        f"## AnalyzeCall, {call['call_seconds']:.0f} s stereo call ({call['segments']} segments), "
        f"{call['calls']} calls",
        "", "| p50 s | p95 s | real-time factor p50 | p95 | x real time |", "|---|---|---|---|---|",
        f"| {call['latency_s']['p50']} | {call['latency_s']['p95']} | {call['real_time_factor']['p50']} | "
        f"{call['real_time_factor']['p95']} | {call['x_real_time_p50']} |", "",
        "## Predict throughput", "",
        f"`audio`: {SEGMENT_SECONDS:g} s PCM segments, featurised by the inference service per request (what the "
        "gateway sends). `features`: one precomputed model-input window per request, so only batching and the "
        "model run. Max batch 1 = dynamic batching off.", "",
        "| input | max batch | clients | requests | req/s | p50 ms | p95 ms | mean batch | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(result["predict"], key=lambda r: (r["input"], -r["max_batch_size"], r["clients"])):
        lines.append(f"| {row['input']} | {row['max_batch_size']} | {row['clients']} | {row['requests']} | "
                     f"{row['throughput_rps']} | "
                     f"{row['latency_ms']['p50']} | {row['latency_ms']['p95']} | {row['mean_batch_size']} | "
                     f"{row['errors']} |")
    lines += ["", "## Peak memory (VmHWM) per service process", "", "| service | MiB |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in mem.items()]
    e2r = stream["end_of_speech_to_result_ms"]
    lines += ["", f"## AnalyzeStream at {stream['pace']} ({stream['segments']} segments, "
              f"{stream['chunk_ms']} ms chunks)",
              "", f"End of speech to result: p50 {e2r['p50']} ms, p95 {e2r['p95']} ms, max {e2r['max']} ms. "
              f"Segment closed to entry sent (server): p50 {stream['segment_closed_to_sent_ms']['p50']} ms. "
              f"{stream['note']}.", ""]
    if result.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", help="registry model name (default: default)")
    p.add_argument("--calls", type=int, default=8, help="measured AnalyzeCalls (after one warm-up)")
    p.add_argument("--cell-requests", type=int, default=400, help="most Predict requests per throughput cell")
    p.add_argument("--cell-seconds", type=float, default=10.0, help="longest a throughput cell runs")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for serving.json and serving.md")
    p.add_argument("--note", action="append", default=[], help="a line for the report's notes (repeatable)")
    args = p.parse_args()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="ser-bench-serving-"))
    logs = scratch / "logs"
    logs.mkdir()
    artifacts, model, note = choose_model(args.model, scratch)
    print(note, flush=True)
    env = base_env(artifacts, model)
    settings = Settings.from_env(env)
    services: list[Service] = []
    peaks: dict[str, float] = {}
    predict: list[dict[str, Any]] = []
    inputs = {"audio": audio_requests(model), "features": feature_requests(artifacts, model)}
    try:
        for batch in BATCH_SIZES:
            metrics_port = free_port()
            inference_env = {**env, "SER_MAX_BATCH_SIZE": str(batch), "SER_METRICS_PORT": str(metrics_port)}
            if batch == BATCH_SIZES[0]:
                services.append(start_service("preprocess", env, logs))
            inference = start_service("inference", inference_env, logs, health=f"ser.v1.Emotion/{model}")
            services.append(inference)
            if batch == BATCH_SIZES[0]:
                services.append(start_service("gateway", env, logs))
                print("AnalyzeCall on a 60 s stereo call ...", flush=True)
                call = bench_analyze_call(env["SER_GATEWAY_ADDR"], settings, model, args.calls, budget_s=240)
                print(json.dumps(call), flush=True)
                print("AnalyzeStream at real-time pace ...", flush=True)
                stream = bench_stream(env["SER_GATEWAY_ADDR"], settings, model)
                print(json.dumps(stream), flush=True)
            for kind, requests in inputs.items():
                for clients in CONCURRENCY:
                    cell = bench_predict(env["SER_INFERENCE_ADDR"], settings, requests, metrics_port, clients,
                                         args.cell_requests, args.cell_seconds)
                    cell = {"input": kind, "max_batch_size": batch, **cell}
                    print(json.dumps(cell), flush=True)
                    predict.append(cell)
            peaks[f"inference (max batch {batch})"] = inference.peak_mb()
            if batch == BATCH_SIZES[0]:
                for s in services:
                    if s.name != "inference":
                        peaks[s.name] = s.peak_mb()
            inference.stop()
            services.remove(inference)
    finally:
        for s in services:
            s.stop()
    import torch

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other work while measured), "
                   f"{platform.python_implementation()} {platform.python_version()}",
        "device": "cuda" if torch.cuda.is_available() else "cpu", "model": note,
        "command": "python tests/bench/bench_serving.py"
                   + (f" --model {args.model}" if args.model != "default" else ""),
        "analyze_call": call, "predict": predict, "peak_memory_mb": {k: round(v, 1) for k, v in peaks.items()},
        "stream": stream, "wall_s": round(time.perf_counter() - started, 1),
        "notes": [f"services ran with SER_GRPC_WORKERS={env['SER_GRPC_WORKERS']} (the default 8 caps the requests one "
                  "server handles at once, and with it the dynamic batch size), SER_MAX_QUEUE_DELAY_MS "
                  f"{env.get('SER_MAX_QUEUE_DELAY_MS', '5 (default)')}, {env['SER_TORCH_THREADS']} torch thread(s)",
                  *args.note],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(result, indent=2))
    (args.out / "serving.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
