"""AnalyzeCall of one stereo call through both pipeline modes, on a stack started in this process.

Run: ``python tests/bench/bench_pipeline_modes.py [--seconds 60] [--runs 3] [--model default]``. The call is
the sample call tiled to the length (16 kHz 16-bit PCM WAV). For each SER_PIPELINE mode a fresh local stack
(``services.cli.local_stack``: preprocess, inference, gateway, and for ``services`` features and speaker) serves
the registry's bundled models; one warm-up call, then ``--runs`` timed calls. Prints wall time, real-time
factor (call seconds / wall seconds) and the largest posterior difference between the modes, as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2  # noqa: E402

from services.cli.local_stack import local_stack  # noqa: E402
from services.common.client import channel  # noqa: E402
from shared.registry.bundled import seed_registry  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.long_calls import write_call  # noqa: E402


def run_mode(mode: str, data: bytes, model: str, runs: int, registry: Path) -> dict:
    settings = dataclasses.replace(Settings.from_env(), pipeline=mode)
    request = analysis_pb2.AnalyzeCallRequest(
        audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data)),
        options=analysis_pb2.AnalyzeOptions(model=common_pb2.ModelRef(name=model)))
    with local_stack(settings, registry_root=registry, device="cpu", preload=True) as stack, \
            channel(stack.address("gateway"), stack) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        reply = stub.AnalyzeCall(request, timeout=1800)  # warm-up
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            reply = stub.AnalyzeCall(request, timeout=1800)
            walls.append(time.perf_counter() - started)
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
    buffer = io.BytesIO()
    write_call(buffer, args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        seed_registry(Path(tmp))
        results = [run_mode(mode, buffer.getvalue(), args.model, args.runs, Path(tmp))
                   for mode in ("inprocess", "services")]
    a, b = (np.asarray(r.pop("probs")) for r in results)
    print(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count(), "results": results,
                      "max_posterior_diff": float(np.abs(a - b).max()) if a.shape == b.shape else None}, indent=1))


if __name__ == "__main__":
    main()
