"""Telephone robustness: a registry model's UAR on SAVEE, clean and through a simulated telephone channel.

Run: ``.venv/bin/python tests/bench/bench_telephone.py [--model NAME[:VERSION]]...`` with
``SER_CORPORA`` (default ``../shared/corpora``) holding ``SAVEE/`` and the model in
``$SER_ARTIFACTS_DIR/registry``. Repeat ``--model`` to compare, e.g. the default model against one
trained with telephone-channel augmentation. Each model is evaluated by ``shared.experiments``
(evaluate-only: the registry weights, the card's feature config, label map and normalisation) on
SAVEE as it is, then on SAVEE passed through ``shared.features.augment.telephone`` (8 kHz,
300-3400 Hz band, 8-bit mu-law, back to 16 kHz). Writes ``tests/bench/results/telephone.json``/``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.corpora.items import CorpusItem  # noqa: E402
from shared.experiments.data import AudioStore  # noqa: E402
from shared.experiments.runner import ExperimentRun  # noqa: E402
from shared.experiments.spec import ExperimentSpec  # noqa: E402
from shared.features.augment import telephone  # noqa: E402
from shared.features.inputs import SAMPLE_RATE  # noqa: E402
from shared.registry import ModelRegistry  # noqa: E402
from shared.settings import Settings  # noqa: E402

RESULTS = REPO / "tests" / "bench" / "results"
CHANNELS = ("clean", "telephone")


class TelephoneAudioStore(AudioStore):
    """SAVEE as a call centre hears it: every decoded 16 kHz clip goes through the telephone channel once."""

    def __init__(self) -> None:
        super().__init__()
        self._passed: set[str] = set()

    def get(self, item: CorpusItem) -> np.ndarray | None:
        clip = super().get(item)
        if clip is None or item.key in self._passed:
            return clip
        degraded = telephone(clip, SAMPLE_RATE).astype(np.float32)
        self._clips[item.key] = degraded  # the base class caches by key; keep only the degraded clip
        self._passed.add(item.key)
        return degraded


def eval_spec(ref: str, savee: Path, label_map: str, normalization: str, architecture: str) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "name": f"telephone robustness of {ref}", "corpora": [{"name": "savee", "root": str(savee)}],
        "missing_corpora": "error", "label_map": label_map,
        # evaluate-only runs never train, so LOSO folds just partition SAVEE by speaker; pooled = all of it
        "protocol": {"kind": "leave_one_speaker_out", "params": {"corpus": "savee"}},
        "model": {"architecture": architecture}, "normalization": normalization, "evaluate_model": ref,
    })


def evaluate(ref: str, savee: Path, registry_root: Path, channel: str, out_dir: Path,
             label_map: str | None = None) -> dict[str, Any]:
    """UAR, accuracy and per-class recall of the registry model ``ref`` on SAVEE through ``channel``."""
    name, _, version = ref.partition(":")
    card = ModelRegistry(registry_root).card(name, version or "default")
    ref = f"{name}:{card.version}"
    normalization = str(card.training.get("normalization", "none"))
    spec = eval_spec(ref, savee, label_map or card.label_map or "4class", normalization, card.architecture)
    run = ExperimentRun(spec, out_dir / f"{name}_{card.version}_{channel}", registry_root=registry_root,
                        evaluate_only=True)
    if channel == "telephone":
        run.audio = TelephoneAudioStore()
    started = time.perf_counter()
    metrics = run.run().report.aggregate().pooled
    return {"model": ref, "architecture": card.architecture, "channel": channel, "label_map": spec.label_map,
            "normalization": normalization, "items": int(metrics.confusion.sum()),
            "uar": round(float(metrics.uar), 4), "accuracy": round(float(metrics.accuracy), 4),
            "recall": {k: None if v.recall is None else round(float(v.recall), 4)
                       for k, v in metrics.per_class.items()},
            "confusion": metrics.confusion.astype(int).tolist(), "classes": list(metrics.classes),
            "seconds": round(time.perf_counter() - started, 1)}


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Telephone robustness (SAVEE)", "",
             f"{result['corpus']}; channel: {result['channel']}. Machine: {result['machine']}.", "",
             "| model | clean UAR | telephone UAR | gap (points) | clean acc | telephone acc |",
             "|---|---|---|---|---|---|"]
    for m in result["models"]:
        c, t = m["clean"], m["telephone"]
        lines.append(f"| {m['model']} ({c['architecture']}) | {100 * c['uar']:.1f}% | {100 * t['uar']:.1f}% | "
                     f"{100 * (t['uar'] - c['uar']):+.1f} | {100 * c['accuracy']:.1f}% | {100 * t['accuracy']:.1f}% |")
    lines += ["", "Per-class recall, clean -> telephone:", ""]
    for m in result["models"]:
        clean, phone = m["clean"]["recall"], m["telephone"]["recall"]
        recalls = ", ".join(f"{k} {100 * (clean[k] or 0):.0f}->{100 * (phone[k] or 0):.0f}%" for k in clean)
        lines.append(f"- {m['model']}: {recalls}")
    return "\n".join(lines) + "\n"


def run(models: list[str], corpora: Path, registry_root: Path, out: Path, label_map: str | None = None
        ) -> dict[str, Any]:
    savee = corpora / "SAVEE"
    if not savee.is_dir():
        raise SystemExit(f"no SAVEE under {corpora}; set SER_CORPORA")
    work = Path(tempfile.mkdtemp(prefix="ser-bench-telephone-"))
    rows = []
    for ref in models:
        row: dict[str, Any] = {"model": ref}
        for channel in CHANNELS:
            row[channel] = evaluate(ref, savee, registry_root, channel, work, label_map)
            print(f"{ref} {channel}: UAR {row[channel]['uar']:.4f} over {row[channel]['items']} clips", flush=True)
        row["model"] = row["clean"]["model"]
        row["gap_uar"] = round(row["telephone"]["uar"] - row["clean"]["uar"], 4)
        rows.append(row)
    result = {"corpus": f"SAVEE at {savee}", "models": rows,
              "channel": "shared.features.augment.telephone: 16 kHz -> 8 kHz, 300-3400 Hz 4th-order band-pass, "
                         "8-bit mu-law (G.711-style), back to 16 kHz",
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "telephone.json").write_text(json.dumps(result, indent=2))
    (out / "telephone.md").write_text(markdown(result))
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", help="NAME[:VERSION_OR_ALIAS], repeatable (default: default)")
    p.add_argument("--corpora", type=Path,
                   default=Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" / "corpora")))
    p.add_argument("--registry", type=Path, help="registry root (default: $SER_ARTIFACTS_DIR/registry)")
    p.add_argument("--label-map", help="override the card's label map (it must give the model's labels)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    registry = args.registry or Settings.from_env().artifacts_dir / "registry"
    from shared.errors import NotFound

    for ref in args.model or ["default"]:
        name, _, version = ref.partition(":")
        try:
            ModelRegistry(registry).card(name, version or "default")
        except NotFound as exc:
            raise SystemExit(f"{exc}\ntrain and publish the model first (make train-default), "
                             "or pass --registry") from None
    result = run(args.model or ["default"], args.corpora, registry, args.out, args.label_map)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
