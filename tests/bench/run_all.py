"""``make bench``: every benchmark in turn; results land in tests/bench/results/ (JSON + Markdown).

Benchmarks that need the real corpora are skipped (and say so) when SER_CORPORA has none.
Model training benchmarks are long; they run only with SER_BENCH_MODELS=1.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main() -> int:
    corpora = Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" / "corpora"))
    has_corpora = (corpora / "SAVEE").is_dir()
    plan: list[tuple[str, list[str], bool]] = [
        ("features", ["bench_features.py"], True),
        ("corpus counts", ["check_corpora.py"], has_corpora),
        ("classical baseline", ["bench_baseline.py"], has_corpora),
        ("runtime: torch vs onnxruntime fp32/int8", ["bench_runtime.py"], has_corpora),
        ("serving", ["bench_serving.py"], True),
        ("capacity (from serving.json)", ["capacity.py"], True),
        ("models", ["bench_models.py"], has_corpora and os.environ.get("SER_BENCH_MODELS") == "1"),
    ]
    failed = []
    # benchmarks that use tests.helpers.results_path publish into tests/bench/results under `make bench`
    env = {"SER_PUBLISH_RESULTS": "1", **os.environ, "SER_CORPORA": str(corpora)}
    for name, argv, enabled in plan:
        if not enabled:
            print(f"== {name}: skipped (needs {'corpora at ' + str(corpora) if not has_corpora else 'SER_BENCH_MODELS=1'})")
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]], cwd=REPO, env=env)
        print(f"== {name}: exit {rc} after {time.perf_counter() - started:.0f} s", flush=True)
        if rc:
            failed.append(name)
    print(f"results in {HERE / 'results'}" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
