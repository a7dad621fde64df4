"""Long-call benchmark: a 60-minute stereo call through the real stack, each service its own process.

Run: ``.venv/bin/python tests/bench/bench_long_call.py [--minutes 60] [--model default]``. The call is
the sample call (real espeak speech, agent on channel 0, customer on channel 1) tiled to the length,
once as 16 kHz 16-bit PCM WAV and once as 8 kHz G.711 mu-law WAV (the usual contact-centre
recording). Each goes up the way ``ser analyze`` sends it (AnalyzeUpload, 2 MiB chunks from disk)
to a freshly started preprocess, inference and gateway, so each service's peak resident memory
(VmHWM) belongs to that one call. Also sampled: the gateway's spool folder on disk. The goal is
under 1.5 GB per service whatever the length. Writes ``tests/bench/results/long_call.json`` and
``long_call.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ser.v1 import analysis_pb2_grpc  # noqa: E402

from services.common.client import channel  # noqa: E402
from services.jobs.analyze_client import UPLOAD_CHUNK_BYTES, analyze_options, analyze_path  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bench.bench_serving import Service, base_env, choose_model, start_service  # noqa: E402
from tests.long_calls import MULAW8K, PCM16, tile_seconds, write_call  # noqa: E402

RESULTS = REPO / "tests" / "bench" / "results"
GOAL_MB = 1536.0
FORMATS = {"16 kHz 16-bit PCM WAV": PCM16, "8 kHz G.711 mu-law WAV": MULAW8K}


def rss_mb(pid: int) -> float:
    """VmRSS now, MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024.0


def folder_mb(folder: Path) -> float:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # removed while we looked
    return total / 2**20


class DiskSampler:
    """The largest size a folder reaches while it runs (sampled every 0.5 s)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak_mb = folder, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_mb = max(self.peak_mb, folder_mb(self.folder))

    def __enter__(self) -> DiskSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_stack(env: dict[str, str], logs: Path, model: str, spool: Path) -> list[Service]:
    services: list[Service] = []
    try:
        services.append(start_service("preprocess", env, logs))
        services.append(start_service("inference", env, logs, health=f"ser.v1.Emotion/{model}"))
        services.append(start_service("gateway", {**env, "TMPDIR": str(spool)}, logs))
    except BaseException:
        for s in services:
            s.stop()
        raise
    return services


def bench_call(path: Path, seconds: float, env: dict[str, str], logs: Path, model: str, spool: Path
               ) -> dict[str, Any]:
    services = start_stack(env, logs, model, spool)
    try:
        idle = {s.name: round(rss_mb(s.proc.pid), 1) for s in services}
        settings = Settings.from_env(env)
        with channel(env["SER_GATEWAY_ADDR"], settings) as ch, DiskSampler(spool) as disk:
            started = time.perf_counter()
            reply = analyze_path(analysis_pb2_grpc.CallAnalysisStub(ch), path, analyze_options(), call_id=path.name,
                                 timeout_s=4 * 3600)
            wall = time.perf_counter() - started
        peaks = {s.name: round(s.peak_mb(), 1) for s in services}
    finally:
        for s in services:
            s.stop()
    last_end_s = max((e.segment.end_ms for e in reply.timeline), default=0) / 1000.0
    return {"file_mb": round(path.stat().st_size / 2**20, 1), "call_seconds": round(seconds, 1),
            "source_rate_hz": reply.source_rate_hz, "channels": reply.source_channels,
            "segments": len(reply.timeline), "last_segment_end_s": round(last_end_s, 1),
            "wall_s": round(wall, 1), "server_processing_s": round(reply.processing_s, 1),
            "real_time_factor": round(wall / seconds, 4), "x_real_time": round(seconds / wall, 1),
            "peak_rss_mb": peaks, "idle_rss_mb": idle, "gateway_spool_peak_mb": round(disk.peak_mb, 1),
            "under_goal": all(v < GOAL_MB for v in peaks.values())}


def over_goal(calls: dict[str, dict[str, Any]]) -> list[str]:
    """A note per service whose peak passed the goal on some call."""
    worst: dict[str, float] = {}
    for r in calls.values():
        for name, mb in r["peak_rss_mb"].items():
            worst[name] = max(worst.get(name, 0.0), mb)
    return [f"{name} peaked at {mb:.0f} MB, over the {GOAL_MB / 1024:.1f} GB goal" for name, mb in worst.items()
            if mb >= GOAL_MB]


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Long-call benchmark", "",
             f"Machine: {result['machine']}. Model: {result['model']}.", "",
             f"Run `{result['command']}`; {result['wall_s']} s wall. Each call goes to a freshly started stack (each "
             "service its own process), uploaded as `ser analyze` does (AnalyzeUpload from disk); peak RSS is VmHWM "
             f"of each service over that one call. Goal: under {GOAL_MB / 1024:.1f} GB per service.", "",
             "| call | file MB | segments | last segment ends | wall s | x real time | RTF | peak RSS gateway / "
             "preprocess / inference MB | idle RSS (same order) MB | gateway spool peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["calls"].items():
        peak, idle = r["peak_rss_mb"], r["idle_rss_mb"]
        lines.append(f"| {name}, {r['call_seconds'] / 60:.0f} min stereo | {r['file_mb']} | {r['segments']} | "
                     f"{r['last_segment_end_s']} s | {r['wall_s']} | {r['x_real_time']} | {r['real_time_factor']} | "
                     f"{peak['gateway']} / {peak['preprocess']} / {peak['inference']} | "
                     f"{idle['gateway']} / {idle['preprocess']} / {idle['inference']} | "
                     f"{r['gateway_spool_peak_mb']} |")
    lines += ["", "## Notes", "", *[f"- {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="call length (default 60)")
    p.add_argument("--model", default="default", help="registry model name (default: default, the bundled model)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for long_call.json and long_call.md")
    p.add_argument("--note", action="append", default=[], help="a line for the report's notes (repeatable)")
    args = p.parse_args()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="ser-bench-long-call-"))
    logs, spool = scratch / "logs", scratch / "spool"
    logs.mkdir()
    spool.mkdir()
    artifacts, model, note = choose_model(args.model, scratch)
    print(note, flush=True)
    env = base_env(artifacts, model)
    load = os.getloadavg()
    calls: dict[str, dict[str, Any]] = {}
    for name, (rate, subtype) in FORMATS.items():
        path = scratch / f"call-{rate}-{subtype.lower()}.wav"
        seconds = write_call(path, 60.0 * args.minutes, rate=rate, subtype=subtype)
        print(f"{name}: {seconds / 60:.0f} min, {path.stat().st_size / 2**20:.0f} MB ...", flush=True)
        calls[name] = bench_call(path, seconds, env, logs, model, spool)
        path.unlink()
        print(json.dumps(calls[name]), flush=True)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other work while measured (load "
                   f"average {load[0]:.1f} at the start), {platform.python_implementation()} "
                   f"{platform.python_version()}, no GPU",
        "model": note, "command": "python tests/bench/bench_long_call.py"
        + (f" --minutes {args.minutes:g}" if args.minutes != 60 else "")
        + (f" --model {args.model}" if args.model != "default" else ""),
        "calls": calls, "goal_mb": GOAL_MB, "wall_s": round(time.perf_counter() - started, 1),
        "notes": [f"the call is the {tile_seconds():.1f} s sample call tiled; upload chunks of "
                  f"{UPLOAD_CHUNK_BYTES >> 20} MiB; services ran with SER_GRPC_WORKERS={env['SER_GRPC_WORKERS']}, "
                  f"{env['SER_TORCH_THREADS']} torch thread(s), default SER_MAX_MESSAGE_MB / SER_MAX_AUDIO_MB",
                  "the benchmark client (which also writes the WAV files) shares the same cores, so wall times are "
                  "pessimistic for a dedicated host",
                  "gateway spool: the encoded upload plus the decoded call as float32 at the source rate, on disk "
                  "(TMPDIR), removed when the call ends",
                  *over_goal(calls), *args.note],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "long_call.json").write_text(json.dumps(result, indent=2))
    (args.out / "long_call.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
