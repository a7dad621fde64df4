"""Leave-one-corpus-out selection of the utterance feature models (and their normalisation) over the
five shared corpora, 4 classes (calm counted as neutral through the named map
``4class-calm-as-neutral``).

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_loco.py [--jobs 2]

Phase 1 extracts every clip's VAD-trimmed eGeMAPS functionals and GE2E embedding into the same
content-addressed cache the experiment runner uses (artifacts/cache/utterance), in ``--jobs``
processes. Phase 2 trains each variant on four corpora and tests on the fifth, through the
project's own ``UtteranceNet``, ``SpeakerPca`` and ``Trainer``, twice per held-out corpus:

* ``speaker`` grouping: every test speaker normalised over all of its clips (the eval path, and a
  call channel's grouping);
* ``skewed`` grouping: every (speaker, emotion) pair is its own group, the worst case of a
  participant who holds one emotion throughout (a customer angry for the whole call).

Selection is by the mean UAR over held-out corpora under speaker grouping, with the skewed mean
shown beside it: a variant that collapses under skew is not shippable. Results go to
tests/bench/results/loco.json and loco.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CORPORA = (("ravdess", "RAVDESS"), ("tess", "TESS"), ("savee", "SAVEE"), ("urdu", "URDU"), ("turevdb", "TurEV-DB"))
LABEL_MAP = "4class-calm-as-neutral"
RESULTS = ROOT / "tests" / "bench" / "results"


def manifest(corpora_root: Path):
    from shared.corpora.items import Manifest
    from shared.corpora.labels import get_label_map
    from shared.corpora.registry import load_corpus

    loaded = Manifest.concat([load_corpus(name, corpora_root / folder) for name, folder in CORPORA])
    mapped, _ = get_label_map(LABEL_MAP).apply(loaded)
    return mapped


def features_of(items: list, cache_root: Path, encoder: str = "none", channel: str = "clean"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each item's call-trimmed functionals (+ ``encoder``) and raw GE2E (256) through the runner's caches, clean
    or (``channel="telephone"``) after ``shared.features.augment.telephone``, as the runner's telephone copies."""
    from shared.experiments.data import AudioStore
    from shared.experiments.features import SpeakerSide
    from shared.features.augment import telephone
    from shared.features.cache import FeatureCache
    from shared.features.utterance import UtteranceConfig, UtteranceFrontEnd
    from shared.speaker.encoder import Ge2eEncoder

    store = AudioStore()
    cache = FeatureCache(Path(cache_root) / "utterance")
    front = UtteranceFrontEnd(UtteranceConfig(encoder=encoder), cache)
    side = SpeakerSide(Ge2eEncoder(device="cpu"), 64, cache=cache, encoder_name="ge2e")
    feats, embs = [], []
    for start in range(0, len(items), 64):
        chunk = [store.get(item) for item in items[start : start + 64]]
        if channel == "telephone":
            chunk = [telephone(c, 16000) for c in chunk]
        feats.append(front(chunk))
        embs.append(side.embed(chunk))
    return np.concatenate(feats), np.concatenate(embs)


def _extract(args: tuple[list[int], str, str, str, str]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """One worker: its share of the corpora's items through ``features_of``."""
    indexes, corpora_root, cache_root, encoder, channel = args
    import torch

    torch.set_num_threads(1)
    items = list(manifest(Path(corpora_root)))
    return (indexes, *features_of([items[i] for i in indexes], Path(cache_root), encoder, channel))


def extract(items: list, corpora_root: Path, cache_root: Path, jobs: int, encoder: str = "none",
            channel: str = "clean") -> tuple[np.ndarray, np.ndarray]:
    from shared.features.utterance import UtteranceConfig

    shares = [list(range(j, len(items), jobs)) for j in range(jobs)]
    x = np.zeros((len(items), UtteranceConfig(encoder=encoder).dim), np.float32)
    e = np.zeros((len(items), 256), np.float32)
    with ProcessPoolExecutor(jobs) as pool:
        for indexes, f, g in pool.map(_extract, [(s, str(corpora_root), str(cache_root), encoder, channel)
                                                 for s in shares]):
            x[indexes], e[indexes] = f, g
    return x, e


@dataclass(frozen=True)
class Variant:
    architecture: str
    view: str
    shrink: float
    label: str
    encoder: str = "none"
    edge_stable: bool = False


VARIANTS = (
    Variant("utterance_mlp", "global", 0.0, "global z, MLP, +GE2E"),
    Variant("utterance_mlp", "per_speaker", 0.0, "per-speaker z, MLP, +GE2E"),
    Variant("utterance_mlp", "per_speaker", 16.0, "per-speaker z shrunk (k=16), MLP, +GE2E"),
    Variant("utterance_mlp", "both", 0.0, "global + per-speaker views, MLP, +GE2E"),
    Variant("utterance_mlp", "both", 16.0, "global + shrunk per-speaker (k=16) views, MLP, +GE2E"),
    Variant("utterance_mlp_nospeaker", "both", 16.0, "global + shrunk per-speaker (k=16) views, MLP, no GE2E"),
    Variant("utterance_linear", "both", 16.0, "global + shrunk per-speaker (k=16) views, linear, +GE2E"),
    Variant("utterance_mlp", "both", 16.0, "+ Whisper tiny.en: global + shrunk (k=16) views, MLP, +GE2E",
            "whisper-tiny.en"),
    Variant("utterance_mlp", "per_speaker", 16.0, "+ Whisper tiny.en: shrunk per-speaker (k=16), MLP, +GE2E",
            "whisper-tiny.en"),
    Variant("utterance_mlp", "global", 0.0, "+ Whisper tiny.en: global z, MLP, +GE2E", "whisper-tiny.en"),
    Variant("utterance_mlp", "per_speaker", 16.0, "edge-stable eGeMAPS (74): shrunk per-speaker (k=16), MLP, +GE2E",
            edge_stable=True),
    Variant("utterance_mlp", "global", 0.0, "edge-stable eGeMAPS (74): global z, MLP, +GE2E", edge_stable=True),
    Variant("utterance_mlp", "per_speaker", 0.0, "edge-stable eGeMAPS (74): per-speaker z, MLP, +GE2E",
            edge_stable=True),
    Variant("utterance_mlp", "per_speaker", 16.0, "edge-stable eGeMAPS (74) + Whisper tiny.en, call-like trim: "
            "shrunk per-speaker (k=16), MLP, +GE2E", "whisper-tiny.en", edge_stable=True),
)
TRAIN = {"optimizer": "adamw", "lr": 0.002, "weight_decay": 0.01, "batch_size": 64, "max_epochs": 40,
         "schedule": "cosine", "label_smoothing": 0.1, "early_stopping_patience": None, "amp": False,
         "num_threads": 1}  # a small MLP: more threads only spin against each other on 2 shared cores


def rows_for(raw: np.ndarray, groups: list[str]) -> np.ndarray:
    from shared.features.utterance import group_moments, with_group_stats

    return with_group_stats(raw, group_moments(raw, groups))


def run_fold(variant: Variant, x: np.ndarray, e: np.ndarray, items: list, classes: list[str], test: str,
             seed: int = 0) -> dict[str, float]:
    import tempfile

    from shared.evaluation.metrics import compute_metrics
    from shared.models.registry import build_model
    from shared.speaker.pca import SpeakerPca
    from shared.training.balancing import undersample
    from shared.training.config import TrainConfig
    from shared.training.data import TensorBatches
    from shared.training.loop import Trainer, seed_everything

    if variant.edge_stable:
        from shared.features.egemaps import FunctionalsExtractor
        from shared.features.utterance import EDGE_UNSTABLE_EGEMAPS

        names = FunctionalsExtractor("egemaps").names
        keep = [i for i, n in enumerate(names) if n not in EDGE_UNSTABLE_EGEMAPS]
        x = x[:, keep + list(range(len(names), x.shape[1]))]  # encoder dims (if any) stay
    corpus = np.asarray([i.corpus for i in items])
    speakers = [i.speaker_key for i in items]
    labels = np.asarray([classes.index(str(i.label)) for i in items])
    train_idx, test_idx = np.flatnonzero(corpus != test), np.flatnonzero(corpus == test)
    keep, _ = undersample([str(labels[i]) for i in train_idx], seed)
    train_idx = train_idx[np.sort(np.asarray(keep))]
    x_train = rows_for(x[train_idx], [speakers[i] for i in train_idx])
    seed_everything(seed)
    model = build_model(variant.architecture, len(classes), view=variant.view, shrink=variant.shrink,
                        feature_dim=x.shape[1])
    model.fit_normalizer(x_train)
    speaker = None
    pca = None
    if model.speaker_dim:
        pca = SpeakerPca.fit(e[train_idx], width=model.speaker_dim, corpora=sorted(set(corpus[train_idx])))
        speaker = pca.transform(e[train_idx])
    config = TrainConfig.from_dict({**TRAIN, "seed": seed})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, config, device="cpu", checkpoint_dir=Path(tmp))
        trainer.fit(TensorBatches.from_numpy(x_train, labels[train_idx], speaker=speaker))
        out = {}
        for grouping in ("speaker", "skewed"):
            groups = [speakers[i] + ("" if grouping == "speaker" else f"/{items[i].label}") for i in test_idx]
            x_test = rows_for(x[test_idx], groups)
            s_test = pca.transform(e[test_idx]) if pca is not None else None
            probs, _ = trainer.predict(TensorBatches.from_numpy(x_test, labels[test_idx], speaker=s_test),
                                       embeddings=False)
            m = compute_metrics([classes[i] for i in labels[test_idx]], [classes[i] for i in probs.argmax(1)], classes)
            out[grouping] = round(100 * m.uar, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", default="all", help="comma-separated indexes into VARIANTS, or all")
    parser.add_argument("--out", default="loco", help="results file stem under tests/bench/results")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    corpora_root = Path(os.environ.get("SER_CORPORA", ROOT.parent / "shared" / "corpora"))
    from shared.corpora.labels import get_label_map
    from shared.settings import Settings

    items = list(manifest(corpora_root))
    classes = list(get_label_map(LABEL_MAP).classes)
    chosen = VARIANTS if args.variants == "all" else [VARIANTS[int(i)] for i in args.variants.split(",")]
    features, extract_s = {}, {}
    for encoder in dict.fromkeys(v.encoder for v in chosen):
        started = time.perf_counter()
        features[encoder] = extract(items, corpora_root, Settings.from_env().artifacts_dir / "cache", args.jobs, encoder)
        extract_s[encoder] = round(time.perf_counter() - started, 1)
        print(f"features ({encoder}) of {len(items)} clips in {extract_s[encoder]:.0f} s", flush=True)
    results = []
    for variant in chosen:
        t = time.perf_counter()
        x, e = features[variant.encoder]
        folds = {test: run_fold(variant, x, e, items, classes, test) for test, _ in CORPORA}
        row = {"variant": variant.label, "architecture": variant.architecture, "view": variant.view,
               "shrink": variant.shrink, "encoder": variant.encoder, "folds": folds,
               "mean_speaker": round(float(np.mean([f["speaker"] for f in folds.values()])), 1),
               "mean_skewed": round(float(np.mean([f["skewed"] for f in folds.values()])), 1),
               "seconds": round(time.perf_counter() - t, 1)}
        results.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"command": "SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_loco.py",
            "machine": "2-core x86_64 VM, 24 GiB, no GPU", "clips": len(items), "label_map": LABEL_MAP,
            "extract_seconds": extract_s, "train": TRAIN}
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    names = [n for n, _ in CORPORA]
    lines = ["| variant | " + " | ".join(names) + " | mean | mean, skewed groups |",
             "|---" * (len(names) + 3) + "|"]
    for r in results:
        cells = [f"{r['folds'][n]['speaker']:.1f} ({r['folds'][n]['skewed']:.1f})" for n in names]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + f" | **{r['mean_speaker']:.1f}** | {r['mean_skewed']:.1f} |")
    (RESULTS / f"{args.out}.md").write_text("UAR % on the held-out corpus, speaker grouping (skewed grouping in brackets)\n\n"
                                     + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
