"""Runtime benchmark: torch vs ONNX Runtime fp32 vs ONNX Runtime dynamic int8 on the same utterances.

Run: ``SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_runtime.py [--per-corpus 120]``.
Takes the shipped default model (``shared/assets/registry``, default:2 unless ``--model``), republishes
it for onnxruntime (fp32 and int8) in a temp registry, and scores a seeded sample of SAVEE and URDU
clips. Model inputs are made once, by the inference service's own code (``prepare_items`` +
``featurise``: decode, openSMILE functionals, GE2E + PCA, per-speaker group statistics with the
corpus speaker as the group), then each runtime's forward pass scores the same inputs: UAR and the
largest posterior difference from torch. Latency is reported twice: the forward pass alone (batch of
one), and the in-process Predict path for one clip (decode + features + speaker + forward, no gRPC),
because for an utterance model the forward pass is a small part of a prediction. The int8 model is
fit to ship only when its UAR is less than 0.5 points below torch's. Writes runtime.json / runtime.md
(published to tests/bench/results with SER_PUBLISH_RESULTS=1, else artifacts/test-results).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "protos"))

from ser.v1 import common_pb2, emotion_pb2  # noqa: E402

from services.inference.config import InferenceConfig  # noqa: E402
from services.inference.inputs import SpeakerContext, featurise, prepare_items  # noqa: E402
from services.inference.loaded_model import LoadedModel, load_version  # noqa: E402
from shared.audio.decode import AudioLimits  # noqa: E402
from shared.registry import ModelRegistry  # noqa: E402
from shared.registry.bundled import BUNDLED_ROOT  # noqa: E402
from shared.registry.onnx_publish import publish_onnx  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bench.bench_calls import CORPORA  # noqa: E402
from tests.bench.bench_serving import percentile  # noqa: E402
from tests.helpers import results_path  # noqa: E402

SHIP_MAX_UAR_DROP = 0.005  # 0.5 points
RUNTIMES = {"torch": "default", "onnxruntime fp32": "default_ort", "onnxruntime int8": "default_int8"}


def sample_items(corpora_root: Path, corpora: list[str], per_corpus: int, label_map: str, seed: int) -> list[Any]:
    from shared.corpora.labels import get_label_map
    from shared.corpora.registry import load_corpus

    chosen = []
    for name in corpora:
        mapped, _ = get_label_map(label_map).apply(load_corpus(name, corpora_root / CORPORA[name]))
        items = sorted(mapped, key=lambda i: str(i.path))
        chosen += random.Random(seed).sample(items, min(per_corpus, len(items)))
    return chosen


def request_of(item: Any) -> emotion_pb2.PredictRequest:
    import soundfile as sf
    import soxr

    x, rate = sf.read(item.path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if rate != 16000:
        x = soxr.resample(x, rate, 16000).astype(np.float32)
    fmt = common_pb2.PcmFormat(sample_rate_hz=16000, channels=1, encoding=common_pb2.PCM_ENCODING_F32LE)
    return emotion_pb2.PredictRequest(speaker_group=item.speaker_key, audio=common_pb2.AudioPayload(
        raw=common_pb2.RawPcm(format=fmt, data=np.ascontiguousarray(x).tobytes())))


class Inputs:
    """The service's own input path, with one GE2E encoder for every runtime."""

    def __init__(self) -> None:
        from shared.speaker.encoder import Ge2eEncoder

        self.limits = AudioLimits.from_settings(Settings.from_env())
        self.encoder = Ge2eEncoder()

    def build(self, model: LoadedModel, requests: list[emotion_pb2.PredictRequest]
              ) -> tuple[np.ndarray, np.ndarray | None]:
        items, stats = prepare_items(requests, model, SpeakerContext(), limits=self.limits,
                                     encoder=lambda: self.encoder)
        featurise(items, model, stats, self.limits)
        failed = [i.error for i in items if not i.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} clips failed: {failed[:3]}")
        x = np.concatenate([i.x for i in items]).astype(np.float32)
        speaker = (np.concatenate([np.repeat(i.speaker[None], len(i.x), axis=0) for i in items]).astype(np.float32)
                   if model.card.uses_speaker else None)
        return x, speaker


def uar(truth: list[str], predicted: list[str], classes: tuple[str, ...]) -> float:
    from shared.evaluation.metrics import compute_metrics

    return float(compute_metrics(truth, predicted, classes).uar)


def time_forward(model: LoadedModel, x: np.ndarray, speaker: np.ndarray | None, rows: int) -> list[float]:
    """Per-utterance forward latency, ms (batch of one, each of the first ``rows`` inputs, after warm-up)."""
    model.forward(x[:1], None if speaker is None else speaker[:1], None)
    out = []
    for n in range(min(rows, len(x))):
        started = time.perf_counter()
        model.forward(x[n : n + 1], None if speaker is None else speaker[n : n + 1], None)
        out.append(1000 * (time.perf_counter() - started))
    return out


def time_predicts(models: dict[str, LoadedModel], inputs: Inputs, requests: list[emotion_pb2.PredictRequest]
                  ) -> dict[str, list[float]]:
    """In-process Predict of one clip (group of one, as a lone Predict): decode, features, speaker, forward;
    ms per runtime. The runtimes take turns on each clip, in a rotating order, after one warm-up each,
    so the machine's changing load and any first-call costs fall on all of them alike."""
    names = list(models)
    for m in models.values():
        m.forward(*inputs.build(m, requests[:1]), None)
    out: dict[str, list[float]] = {n: [] for n in names}
    for k, request in enumerate(requests):
        for name in names[k % len(names):] + names[: k % len(names)]:
            started = time.perf_counter()
            models[name].forward(*inputs.build(models[name], [request]), None)
            out[name].append(1000 * (time.perf_counter() - started))
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Runtime benchmark: torch vs ONNX Runtime fp32 vs int8", "",
             f"Machine: {result['machine']}. Load average at start {result['load_average']}. "
             f"Model: {result['model']}. Clips: {result['clips']} ({result['sample']}).", "",
             f"Run `{result['command']}`; {result['wall_s']:.0f} s wall.", "",
             "| runtime | UAR | UAR vs torch (points) | max abs posterior diff vs torch | forward p50 ms | forward p95 ms "
             "| in-process Predict p50 ms | p95 ms | model file KiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["runtimes"].items():
        lines.append(f"| {name} | {row['uar']:.4f} | {100 * row['uar_delta']:+.2f} | {row['max_abs_diff']:.1e} | "
                     f"{row['forward_ms']['p50']:.3f} | {row['forward_ms']['p95']:.3f} | "
                     f"{row['predict_ms']['p50']:.0f} | {row['predict_ms']['p95']:.0f} | {row['model_kib']:.0f} |")
    lines += ["", f"int8: {result['int8_verdict']}", "", *[f"- {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default:2", help="bundled NAME:VERSION (default default:2, what ships)")
    p.add_argument("--corpora", default="savee,urdu")
    p.add_argument("--per-corpus", type=int, default=120, help="clips sampled per corpus (seeded)")
    p.add_argument("--latency-clips", type=int, default=30, help="clips timed one by one")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    corpora_root = Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" / "corpora"))
    if not (corpora_root / "SAVEE").is_dir():
        print(f"skipped: no corpora at {corpora_root} (set SER_CORPORA)")
        return 0
    started, load = time.perf_counter(), os.getloadavg()
    name, _, version = args.model.partition(":")
    bundled = ModelRegistry(BUNDLED_ROOT)
    model, card = bundled.load(name, version or "default")
    registry = ModelRegistry(Path(tempfile.mkdtemp(prefix="ser-bench-runtime-")) / "registry")
    side = {k: bundled.artifact_path(name, card.version, k) for k in card.side_artifacts}
    registry.publish(model, card.replace(side_artifacts={}), name="default", version=card.version, artifacts=side,
                     alias="default")
    publish_onnx(registry, "default", card.version, as_name="default_ort", alias="default")
    publish_onnx(registry, "default", card.version, as_name="default_int8", int8=True, alias="default")
    config = InferenceConfig(max_queue_delay_ms=0.0, preload=False)
    loaded = {rt: load_version(registry, model_name, "default", device="cpu", config=config,
                               observe=lambda labels, stats: None) for rt, model_name in RUNTIMES.items()}
    items = sample_items(corpora_root, args.corpora.split(","), args.per_corpus, card.label_map, args.seed)
    print(f"{len(items)} clips; building inputs with the service's input path ...", flush=True)
    requests = [request_of(i) for i in items]
    inputs = Inputs()
    x, speaker = inputs.build(loaded["torch"], requests)
    truth = [i.label for i in items]
    reference = loaded["torch"].forward(x, speaker, None)
    rows: dict[str, dict[str, Any]] = {}
    predicts = time_predicts(loaded, inputs, requests[: args.latency_clips])
    for rt, m in loaded.items():
        probs = m.forward(x, speaker, None)
        predicted = [m.labels[k] for k in probs.argmax(axis=1)]
        forward = time_forward(m, x, speaker, 200)
        predict = predicts[rt]
        artifact = (registry.artifact_path(m.name, m.version, "onnx") if "onnx" in m.card.side_artifacts
                    else registry.resolve(m.name, m.version)[1] / "model.safetensors")
        rows[rt] = {"served_as": m.runtime, "uar": round(uar(truth, predicted, m.labels), 4),
                    "max_abs_diff": float(np.abs(probs - reference).max()),
                    "agreement_with_torch": round(float(np.mean(probs.argmax(1) == reference.argmax(1))), 4),
                    "forward_ms": {"p50": round(percentile(forward, 50), 4), "p95": round(percentile(forward, 95), 4)},
                    "predict_ms": {"p50": round(percentile(predict, 50), 1), "p95": round(percentile(predict, 95), 1)},
                    "model_kib": round(artifact.stat().st_size / 1024, 1)}
        print(rt, json.dumps(rows[rt]), flush=True)
    for row in rows.values():
        row["uar_delta"] = round(row["uar"] - rows["torch"]["uar"], 4)
    drop = -rows["onnxruntime int8"]["uar_delta"]
    ships = drop < SHIP_MAX_UAR_DROP
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other work while measured), "
                   f"CPython {platform.python_version()}",
        "load_average": " ".join(f"{v:.2f}" for v in load),
        "model": f"{name}:{card.version} ({card.architecture}, {card.num_parameters:,} params, {card.protocol})",
        "clips": len(items), "sample": f"{args.per_corpus} per corpus from {args.corpora}, seed {args.seed}",
        "command": "python " + shlex.join(["tests/bench/bench_runtime.py", *sys.argv[1:]]),
        "runtimes": rows, "int8_uar_drop_points": round(100 * drop, 2), "int8_ships": ships,
        "int8_verdict": (f"UAR drop {100 * drop + 0.0:.2f} points "
                         + ("< 0.5: fit to ship" if ships else ">= 0.5: NOT shipped")),
        "wall_s": round(time.perf_counter() - started, 1),
        "notes": [f"{card.name}:{card.version} is a final fit on all five corpora ({card.protocol}): these clips were "
                  "in its training data, so the absolute UAR is a fit figure, not a generalisation estimate; the "
                  "comparison between runtimes on the same inputs is what this measures",
                  "forward = the loaded model's forward pass on one utterance's input (batch 1, 1 thread); "
                  "in-process Predict = the inference service's input path for one clip as a lone request "
                  "(decode, eGeMAPS functionals, GE2E speaker embedding + PCA, forward), without gRPC; the runtimes take "
                  "turns on each clip",
                  "ONNX Runtime: CPUExecutionProvider (no GPU on this machine)"],
    }
    (results_path("runtime.json")).write_text(json.dumps(result, indent=2))
    results_path("runtime.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
