"""AnalyzeCall of one stereo call through both pipeline modes, on a stack started in this process.

Run: ``python tests/bench/bench_pipeline_modes.py [--seconds 60] [--runs 3] [--model default]``. The call is
the sample call tiled to the length (16 kHz 16-bit PCM WAV), sent as ``ser analyze`` sends it (AnalyzeUpload,
chunks from disk; AnalyzeCall inline stops at the 64 MiB message limit). For each SER_PIPELINE mode a fresh local stack
(``services.cli.local_stack``: preprocess, inference, gateway, and for ``services`` features and speaker) serves
the registry's bundled models; one warm-up call (the sample call), then ``--runs`` timed calls. Prints wall time, real-time
factor (call seconds / wall seconds) and the largest posterior difference between the modes, as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from ser.v1 import analysis_pb2_grpc  # noqa: E402

from services.cli.local_stack import local_stack  # noqa: E402
from services.common.client import channel  # noqa: E402
from services.jobs.analyze_client import analyze_options, analyze_path  # noqa: E402
from shared.assets import sample_call_path  # noqa: E402
from shared.registry.bundled import seed_registry  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.long_calls import write_call  # noqa: E402


def run_mode(mode: str, call: Path, model: str, runs: int, registry: Path) -> dict:
    settings = dataclasses.replace(Settings.from_env(), pipeline=mode)
    options = analyze_options(model=model)
    with local_stack(settings, registry_root=registry, device="cpu", preload=True) as stack, \
            channel(stack.address("gateway"), stack) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        analyze_path(stub, sample_call_path(), options, timeout_s=600)  # warm-up: the 14.6 s sample call
        walls, reply = [], None
        for _ in range(runs):
            started = time.perf_counter()
            reply = analyze_path(stub, call, options, timeout_s=3600)
            walls.append(time.perf_counter() - started)
    assert reply is not None, "--runs must be at least 1"
    probs = [list(e.emotion.probs) for e in reply.timeline]
    return {"mode": mode, "call_s": reply.duration_s, "segments": len(reply.timeline), "wall_s": walls,
            "wall_median_s": float(np.median(walls)), "rtf": reply.duration_s / float(np.median(walls)),
            "model": f"{reply.model.name}:{reply.model.version}", "probs": probs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        call = Path(tmp) / "call.wav"
        write_call(call, args.seconds)
        seed_registry(Path(tmp) / "registry")
        results = [run_mode(mode, call, args.model, args.runs, Path(tmp) / "registry")
                   for mode in ("inprocess", "services")]
    a, b = (np.asarray(r.pop("probs")) for r in results)
    print(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count(), "results": results,
                      "max_posterior_diff": float(np.abs(a - b).max()) if a.shape == b.shape else None}, indent=1))


if __name__ == "__main__":
    main()
