"""Every model family on the real corpora in one comparison table: trained on RAVDESS+TESS, tested on
SAVEE, 4 classes (RAVDESS calm counted as neutral), plus the classical baselines, plus the VACNN
pretrain-then-fine-tune protocol (k-fold on SAVEE) in its own section.

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_models.py

Compact settings so it finishes on 2 CPU cores: items capped per (corpus, class), epochs capped,
image models at a reduced image size. Every cap is written into the results, beside the exact
command, per-model run time and the machine. Options:

    --max-per-class N   items per corpus and class (default 150; 0 = no cap)
    --epochs N          max epochs for every deep model (default 8; pretraining gets the same)
    --image-size N      image side for the image models (default 128; multiple of 32)
    --models a,b        only these entries (names as in the table; default all)
    --results DIR       where models.{json,md} go (default tests/bench/results)
    --work DIR          run folders (default artifacts/bench/models; wiped per entry unless --resume)

Writes DIR/models.json (rows, caps, timings, machine, command) and DIR/models.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.experiments.comparison import comparison_markdown, comparison_rows  # noqa: E402
from shared.experiments.runner import ExperimentRun  # noqa: E402
from shared.experiments.spec import load_spec  # noqa: E402
from shared.runtime import limit_threads  # noqa: E402

CORPORA = [
    {"name": "ravdess", "root": "${SER_CORPORA}/RAVDESS", "options": {"calm_as": "neutral"}},
    {"name": "tess", "root": "${SER_CORPORA}/TESS"},
    {"name": "savee", "root": "${SER_CORPORA}/SAVEE"},
]
ZERO_SHOT = {"kind": "cross_corpus", "params": {"train": ["ravdess", "tess"], "test": ["savee"],
                                                "valid_speaker_fraction": 0.1}}
FINE_TUNE = {"kind": "pretrain_finetune_kfold", "params": {"source": ["ravdess", "tess"], "target": "savee", "k": 4}}
ADAMW = {"optimizer": "adamw", "lr": 0.001, "weight_decay": 0.05, "batch_size": 32, "warmup_fraction": 0.05,
         "schedule": "cosine", "label_smoothing": 0.1, "early_stopping_patience": 3}
SGD = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 32,
       "schedule": "constant", "early_stopping_patience": 3}


def entries(size: int) -> dict[str, dict[str, Any]]:
    """Name -> spec fields for each entry of the table (the base spec is filled in by ``spec_for``)."""
    image = {"preset": "speakercct", "window_s": 3.0, "stride_s": 1.5, "image": {"size": size, "channels": 1}}
    vacnn_in = {**image, "preset": "vacnn"}
    parry_in = {"preset": "parry", "window_s": 3.0, "stride_s": 1.5}
    parry = lambda arch: {"inputs": parry_in, "model": {"architecture": arch}, "training": SGD}  # noqa: E731
    base = lambda arch: {"model": {"architecture": f"baseline:{arch}"}}  # noqa: E731
    return {
        "cct_tiny": {"inputs": image, "model": {"architecture": "cct_tiny",
                                                "overrides": {"in_chans": 1, "img_size": size}}, "training": ADAMW},
        "speaker_cct_e2e_tiny": {"inputs": image, "training": ADAMW, "speaker": {"encoder": "ge2e"},
                                 "model": {"architecture": "speaker_cct_e2e_tiny",
                                           "overrides": {"in_chans": 1, "img_size": size}}},
        "resnet50": {"inputs": image, "model": {"architecture": "resnet50", "overrides": {"in_chans": 1}},
                     "training": {**ADAMW, "lr": 0.0005}},
        "vacnn": {"inputs": vacnn_in, "model": {"architecture": "vacnn", "overrides": {"img_size": size}},
                  "training": ADAMW},
        "vacnn_bovw": {"inputs": vacnn_in, "training": ADAMW, "bovw": {"k": 64, "max_images": 1000},
                       "model": {"architecture": "vacnn_bovw", "overrides": {"img_size": size, "vocabulary_size": 64}}},
        "parry_lstm": parry("parry_lstm"),
        "parry_cnn": parry("parry_cnn"),
        "parry_cnn_lstm": parry("parry_cnn_lstm"),
        "wav2vec2_wccn_tiny": {"inputs": {"window_s": 2.0, "stride_s": 2.0},
                               "model": {"architecture": "wav2vec2_wccn_tiny"},
                               "training": {"optimizer": "adagrad", "lr": 0.01, "weight_decay": 0.0, "batch_size": 16,
                                            "schedule": "constant", "early_stopping_patience": 3}},
        "egemaps+random_forest": base("egemaps+random_forest"),
        "emobase+random_forest": base("emobase+random_forest"),
        "egemaps+logreg": base("egemaps+logreg"),
        "egemaps+wccn_logreg": base("egemaps+wccn_logreg"),
        "finetune:vacnn_bovw<-vacnn": {
            "protocol": FINE_TUNE, "inputs": vacnn_in, "training": {**ADAMW, "lr": 0.0003},
            "pretrain_label_map": "7class", "pretrain_valid_speaker_fraction": 0.1,
            "bovw": {"k": 64, "max_images": 1000},
            "model": {"architecture": "vacnn_bovw", "overrides": {"img_size": size, "vocabulary_size": 64},
                      "pretrain_architecture": "vacnn", "pretrain_overrides": {"img_size": size},
                      "freeze": "first_va_block"},
            "pretrain_training": {"lr": 0.001},
        },
        "finetune:egemaps+logreg": {"protocol": FINE_TUNE, **base("egemaps+logreg")},
    }


def spec_for(name: str, fields: dict[str, Any], max_per_class: int | None, epochs: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": f"bench-{name}", "corpora": CORPORA, "missing_corpora": "error", "label_map": "4class",
        "protocol": ZERO_SHOT, "normalization": "per_speaker", "balancing": "undersample", "seed": 0,
        "tsne": False, **fields,
    }
    if max_per_class:
        spec["max_per_class"] = max_per_class
    if "training" in spec:
        spec["training"] = {**spec["training"], "max_epochs": epochs, "num_threads": int(os.environ.get(
            "SER_TORCH_THREADS", "2"))}
    if "pretrain_training" in spec:
        spec["pretrain_training"] = {**spec["pretrain_training"], "max_epochs": epochs}
    return spec


def machine() -> dict[str, Any]:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"node": platform.node(), "platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "gpu": gpu, "python": platform.python_version()}


def printer(started: float) -> Callable[[int, int, str], None]:
    """A progress callback that prints at most every 30 s."""
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"   {time.perf_counter() - started:6.0f} s  {message}", flush=True)

    return progress


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-per-class", type=int, default=150)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--models", help="comma-separated entry names")
    p.add_argument("--results", default=str(REPO / "tests" / "bench" / "results"))
    p.add_argument("--work", default=str(REPO / "artifacts" / "bench" / "models"))
    p.add_argument("--resume", action="store_true", help="keep finished splits of earlier runs")
    args = p.parse_args(argv)
    limit_threads(int(os.environ.get("SER_TORCH_THREADS", "2")))
    os.environ.setdefault("SER_CORPORA", str(REPO.parent / "shared" / "corpora"))
    if args.image_size % 32:
        raise SystemExit("--image-size must be a multiple of 32 (VACNN+BOVW)")
    table = entries(args.image_size)
    chosen = list(table) if not args.models else args.models.split(",")
    unknown = sorted(set(chosen) - set(table))
    if unknown:
        raise SystemExit(f"unknown entries {unknown}; known: {list(table)}")
    work = Path(args.work)
    reports, runs = [], []
    started_all = time.perf_counter()
    for name in chosen:
        spec = load_spec(spec_for(name, table[name], args.max_per_class or None, args.epochs))
        out = work / name.replace(":", "_").replace("<-", "_from_").replace("+", "_")
        if out.exists() and not args.resume:
            shutil.rmtree(out)
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            result = ExperimentRun(spec, out, progress=printer(started),
                                   feature_cache=REPO / "artifacts" / "cache").run()
        except Exception as exc:  # one broken entry must not lose the others' results
            runs.append({"entry": name, "error": f"{type(exc).__name__}: {exc}",
                         "seconds": round(time.perf_counter() - started, 1)})
            print(f"   FAILED: {exc}", flush=True)
            continue
        seconds = round(time.perf_counter() - started, 1)
        result.report.metadata["seconds"] = seconds  # wall time of the whole entry, features included
        reports.append(result.report)
        agg = result.report.aggregate().pooled
        runs.append({"entry": name, "seconds": seconds, "report": str(out / "report.json"),
                     "uar": round(agg.uar, 4), "accuracy": round(agg.accuracy, 4),
                     "spec": spec.model_dump(mode="json", exclude_defaults=True)})
        print(f"   {seconds:.0f} s  UAR {100 * agg.uar:.1f}%  WA {100 * agg.accuracy:.1f}%", flush=True)
    command = "SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_models.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    caps = {"max_per_class": args.max_per_class or None, "max_epochs": args.epochs, "image_size": args.image_size,
            "note": "max_per_class caps items per (corpus, class) before splitting; max_epochs caps every deep "
                    "model and the VACNN pretraining; image models run at image_size instead of the papers' 224; "
                    "wav2vec2 is the tiny config trained from scratch (no XLSR-53 weights); early stopping "
                    "patience 3 on a 10% speaker hold-out of the training corpora"}
    result = {"command": command.strip(), "machine": machine(), "caps": caps, "train": "ravdess+tess (calm as neutral)",
              "test": "savee", "label_map": "4class", "total_seconds": round(time.perf_counter() - started_all, 1),
              "runs": runs, "rows": comparison_rows(reports) if reports else []}
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "models.json").write_text(json.dumps(result, indent=2, default=str))
    md = ["# Models on RAVDESS+TESS -> SAVEE (4 classes)", "", f"Command: `{result['command']}`", "",
          f"Machine: {json.dumps(result['machine'])}", "", f"Caps: {json.dumps(caps)}", "",
          f"Total wall time: {result['total_seconds']:.0f} s", ""]
    md += [comparison_markdown(reports)] if reports else ["(no entry finished)"]
    failed = [r for r in runs if "error" in r]
    if failed:
        md += ["", "Failed entries:", ""] + [f"- {r['entry']}: {r['error']}" for r in failed]
    (results / "models.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
