"""Classical speaker-normalised baseline on the real corpora: eGeMAPS (88) + GE2E (256) functionals
with logistic regression (and the paper-4 random forest), trained on RAVDESS+TESS, tested on SAVEE,
4 classes, under none / per-corpus / per-speaker z-scoring.

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_baseline.py

Writes tests/bench/results/baseline.{json,md}. Features are cached in artifacts/cache/baseline.npz.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.corpora.items import Manifest  # noqa: E402
from shared.corpora.labels import get_label_map  # noqa: E402
from shared.corpora.registry import load_corpus  # noqa: E402
from shared.evaluation.baseline import BaselineConfig, run_baseline  # noqa: E402
from shared.evaluation.protocols import cross_corpus  # noqa: E402
from shared.experiments.data import AudioStore  # noqa: E402
from shared.features.egemaps import FunctionalsExtractor  # noqa: E402
from shared.runtime import limit_threads  # noqa: E402
from shared.speaker.encoder import Ge2eEncoder  # noqa: E402

OUT = REPO / "tests" / "bench" / "results"


def features(manifest: Manifest, cache: Path) -> dict[str, np.ndarray]:
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        have = dict(zip(z["keys"].tolist(), z["x"], strict=True))
        if all(i.key in have for i in manifest):
            return have
    store, smile, ge2e = AudioStore(), FunctionalsExtractor("egemaps"), Ge2eEncoder(device="cpu")
    keys, rows = [], []
    started = time.perf_counter()
    for n, item in enumerate(manifest, 1):
        clip = store.get(item)
        if clip is None:
            continue
        rows.append(np.concatenate([smile(clip, 16000), ge2e.embed(clip)]))
        keys.append(item.key)
        if n % 250 == 0:
            print(f"  features {n}/{len(manifest)} ({time.perf_counter() - started:.0f} s)", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, keys=np.asarray(keys), x=np.stack(rows).astype(np.float32))
    return dict(zip(keys, rows, strict=True))


def main() -> int:
    limit_threads(int(os.environ.get("SER_TORCH_THREADS", "2")))
    root = Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" / "corpora"))
    manifest = Manifest.concat([load_corpus("ravdess", root / "RAVDESS"), load_corpus("tess", root / "TESS"),
                                load_corpus("savee", root / "SAVEE")])
    mapped, dropped = get_label_map("4class").apply(manifest)
    started = time.perf_counter()
    feats = features(mapped, REPO / "artifacts" / "cache" / "baseline.npz")
    feature_seconds = time.perf_counter() - started
    splits = cross_corpus(mapped, ["ravdess", "tess"], ["savee"])
    rows = []
    for classifier in ("logreg", "random_forest"):
        for norm in ("none", "per_corpus", "per_speaker"):
            split = cross_corpus(mapped, ["ravdess", "tess"], ["savee"], normalization=norm)
            report = run_baseline(split, feats, BaselineConfig(classifier=classifier, normalization=norm),
                                  get_label_map("4class").classes, feature_name="egemaps+ge2e")
            agg = report.aggregate().pooled
            rows.append({"classifier": classifier, "normalization": norm, "uar": agg.uar, "accuracy": agg.accuracy,
                         "macro_f1": agg.macro_f1})
            print(f"{classifier:<14} {norm:<12} UAR {100 * agg.uar:5.1f}%  WA {100 * agg.accuracy:5.1f}%")
    result = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
              "command": "SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_baseline.py",
              "train": "ravdess+tess", "test": "savee", "label_map": "4class", "dropped_by_label_map": dropped,
              "items": {"train": len(splits[0].train), "test": len(splits[0].test)},
              "feature_seconds": round(feature_seconds, 1), "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "baseline.json").write_text(json.dumps(result, indent=2))
    md = ["| classifier | normalisation | UAR | WA | macro-F1 |", "|---|---|---|---|---|"]
    md += [f"| {r['classifier']} | {r['normalization']} | {100 * r['uar']:.1f} | {100 * r['accuracy']:.1f} | "
           f"{100 * r['macro_f1']:.1f} |" for r in rows]
    (OUT / "baseline.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
