"""Callers the model never heard: leave-one-corpus-out over the five shared corpora, scored the way
calls group utterances, with the logistic-regression anchor beside every candidate.

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_callers.py [--jobs 2] [--candidates ...]

Phase 1 extracts every clip's call-trimmed eGeMAPS functionals, its Whisper tiny.en middle-layer pooling
and its GE2E embedding, clean and after a telephone channel (8 kHz, 300-3400 Hz, G.711 mu-law), into the
runner's content-addressed cache (artifacts/cache/utterance), so `make train-default` reuses them.

Phase 2: for each held-out corpus, every candidate is trained on the other four (undersampled; the
project's own ``UtteranceNet`` and ``Trainer``) and scored per utterance on the held-out corpus's speakers
grouped as calls group them, each group one call channel whose statistics the model standardises with:

* ``speaker``: all of a speaker's clips (what ``ser eval`` does);
* ``balanced``: calls of 4 turns, one of each emotion where the speaker has it;
* ``skewed``: calls of 10 turns, 75 % one emotion (a caller who holds one state);
* ``long``: calls of 30 turns, emotions interleaved.

each clean and telephone. The anchor is a logistic regression (C=0.01) on eGeMAPS (88) + GE2E (256) with
per-group z-scores, on the same folds and groups. Out-of-fold posteriors give the calibration: a
temperature fitted on four held-out corpora is scored (ECE, 15 bins) on the fifth, and the uncertain
threshold is the calibrated top probability that keeps 80 % of out-of-fold segments.
Results: tests/bench/results/callers.json and callers.md, reliability plots in tests/bench/results/.

This simulates the call path's grouping from corpus clips (the call path gives the same posteriors as
the eval path for the same grouping: tests/e2e/test_call_parity.py); bench_calls.py then checks the
chosen model through the running stack.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_loco import CORPORA, LABEL_MAP, RESULTS, extract, manifest  # noqa: E402

ENCODER = "whisper-tiny.en-mid"
CHANNELS = ("clean", "telephone")
REGIMES = {"speaker": 0, "balanced": 4, "skewed": 10, "long": 30}
SKEW_SHARE = 0.75


def make_calls(idx: np.ndarray, labels: np.ndarray, speakers: np.ndarray, regime: str, seed: int = 0) -> np.ndarray:
    """A call id per clip of ``idx`` ("" for a clip no call used), one speaker per call."""
    rng = np.random.default_rng(seed)
    calls = np.full(len(idx), "", dtype=object)
    turns = REGIMES[regime]
    for s in sorted(set(speakers[idx])):
        mine = np.flatnonzero(speakers[idx] == s)
        if not turns:
            calls[mine] = s
            continue
        pools = {c: list(rng.permutation(mine[labels[idx][mine] == c])) for c in sorted(set(labels[idx][mine]))}
        made: list[list[int]] = []
        if regime == "skewed":
            dominant = int(round(turns * SKEW_SHARE))
            k = 0
            while True:
                ready = [c for c in pools if len(pools[c]) >= dominant]
                others = [c for c in pools if pools[c]]
                if not ready or len(others) < 2:
                    break
                d = ready[k % len(ready)]
                k += 1
                call = [pools[d].pop() for _ in range(dominant)]
                rest = [c for c in others if c != d and pools[c]]
                while len(call) < turns and rest:
                    c = rest[len(call) % len(rest)]
                    call.append(pools[c].pop())
                    rest = [c for c in rest if pools[c]]
                made.append(call)
        else:
            order: list[int] = []
            while any(pools.values()):
                for c in [c for c in pools if pools[c]]:
                    order.append(pools[c].pop())
            made = [order[i : i + turns] for i in range(0, len(order), turns)]
            if len(made) > 1 and len(made[-1]) < 2:
                made[-2].extend(made.pop())
        for n, call in enumerate(made):
            calls[call] = f"{s}#{regime}{n}"
    return calls


def group_rows(raw: np.ndarray, groups: np.ndarray) -> np.ndarray:
    from shared.features.utterance import group_moments, with_group_stats

    return with_group_stats(raw, group_moments(raw, [str(g) for g in groups]))


@dataclass(frozen=True)
class Candidate:
    label: str
    view: str = "per_speaker"
    shrink: float = 0.0
    hidden: int = 0
    whisper: bool = True
    speaker_dim: int = 64
    weight_decay: float = 0.01
    lr: float = 0.002
    epochs: int = 40
    telephone_train: bool = False
    call_groups: bool = False
    dropout: float = 0.3
    label_smoothing: float = 0.1


CANDIDATES = {
    "lin-ps0": Candidate("eGeMAPS74 + Whisper-mid, per-group z, linear, +GE2E"),
    "lin-ps4": Candidate("eGeMAPS74 + Whisper-mid, per-group z shrunk k=4, linear, +GE2E", shrink=4.0),
    "lin-ps0-tel": Candidate("the same (k=0), telephone copies in training", telephone_train=True),
    "lin-ps0-calls": Candidate("the same (k=0), call-like training groups", call_groups=True),
    "mlp-ps0": Candidate("eGeMAPS74 + Whisper-mid, per-group z, MLP 128, +GE2E", hidden=128),
    "lin-both4": Candidate("eGeMAPS74 + Whisper-mid, global + shrunk k=4 views, linear, +GE2E", view="both", shrink=4.0),
    "lin-both0": Candidate("eGeMAPS74 + Whisper-mid, global + per-group z views, linear, +GE2E", view="both"),
    "mlp-both4": Candidate("eGeMAPS74 + Whisper-mid, global + shrunk k=4 views, MLP 128, +GE2E", view="both", shrink=4.0,
                           hidden=128),
    "lin-ps8": Candidate("eGeMAPS74 + Whisper-mid, per-group z shrunk k=8, linear, +GE2E", shrink=8.0),
    "lin-global": Candidate("eGeMAPS74 + Whisper-mid, global z, linear, +GE2E", view="global"),
    "lin-global-tel": Candidate("eGeMAPS74 + Whisper-mid, global z, linear, +GE2E, telephone copies", view="global",
                                telephone_train=True),
    "lin-ps4-tel": Candidate("eGeMAPS74 + Whisper-mid, per-group z shrunk k=4, linear, +GE2E, telephone copies",
                             shrink=4.0, telephone_train=True),
    "lin-ps0-tel-nospk": Candidate("eGeMAPS74 + Whisper-mid, per-group z, linear, no GE2E, telephone copies",
                                   speaker_dim=0, telephone_train=True),
    "lin-ps4-tel-nospk": Candidate("eGeMAPS74 + Whisper-mid, per-group z shrunk k=4, linear, no GE2E, telephone copies",
                                   shrink=4.0, speaker_dim=0, telephone_train=True),
    "ens-ps4-tel-nospk": Candidate("eGeMAPS74 + Whisper-mid, ensemble of a per-group z (k=4) head and a global z head, "
                                   "linear, no GE2E, telephone copies", view="ensemble", shrink=4.0, speaker_dim=0,
                                   telephone_train=True),
    "ens-ps0-tel-nospk": Candidate("eGeMAPS74 + Whisper-mid, ensemble of a per-group z head and a global z head, "
                                   "linear, no GE2E, telephone copies", view="ensemble", speaker_dim=0,
                                   telephone_train=True),
    "ens-ps0-tel-nospk-noWhisper": Candidate("eGeMAPS74 only, ensemble of a per-group z head and a global z head, "
                                             "linear, no GE2E, telephone copies", view="ensemble", speaker_dim=0,
                                             whisper=False, telephone_train=True),
    "ens-ps4-tel": Candidate("eGeMAPS74 + Whisper-mid, ensemble of a per-group z (k=4) head and a global z head, "
                             "linear, +GE2E, telephone copies", view="ensemble", shrink=4.0, telephone_train=True),
    "lin-both0-tel": Candidate("eGeMAPS74 + Whisper-mid, global + per-group z views, linear, +GE2E, telephone copies",
                               view="both", telephone_train=True),
    "lin-ps0-noWhisper": Candidate("eGeMAPS74 only, per-group z, linear, +GE2E", whisper=False),
    "lin-ps0-wd": Candidate("eGeMAPS74 + Whisper-mid, per-group z, linear, +GE2E, weight decay 0.1", weight_decay=0.1),
}


def feature_columns(whisper: bool) -> np.ndarray:
    from shared.features.egemaps import FunctionalsExtractor
    from shared.features.utterance import EDGE_UNSTABLE_EGEMAPS
    from shared.features.whisper import DIM

    names = FunctionalsExtractor("egemaps").names
    keep = [i for i, n in enumerate(names) if n not in EDGE_UNSTABLE_EGEMAPS]
    return np.asarray(keep + (list(range(len(names), len(names) + DIM)) if whisper else []))


def training_groups(idx: np.ndarray, labels: np.ndarray, speakers: np.ndarray, call_groups: bool, seed: int) -> np.ndarray:
    """Whole speakers, or (``call_groups``) a mix of call-like groups: balanced and skewed, 4-30 turns."""
    if not call_groups:
        return speakers[idx]
    out = np.empty(len(idx), dtype=object)
    rng = np.random.default_rng(seed)
    regimes = np.asarray(["balanced", "skewed", "long"])[rng.integers(0, 3, len(set(speakers[idx])))]
    for s, regime in zip(sorted(set(speakers[idx])), regimes, strict=True):
        mine = np.flatnonzero(speakers[idx] == s)
        calls = make_calls(idx[mine], labels, speakers, regime, seed)
        out[mine] = np.where(calls == "", s + "#rest", calls)
    return out


def train_candidate(c: Candidate, x: dict[str, np.ndarray], e: dict[str, np.ndarray], labels: np.ndarray,
                    speakers: np.ndarray, train_idx: np.ndarray, classes: list[str], seed: int = 0):
    import tempfile

    from shared.models.registry import build_model
    from shared.speaker.pca import SpeakerPca
    from shared.training.balancing import undersample
    from shared.training.config import TrainConfig
    from shared.training.data import TensorBatches
    from shared.training.loop import Trainer, seed_everything

    cols = feature_columns(c.whisper)
    keep, _ = undersample([str(labels[i]) for i in train_idx], seed)
    idx = train_idx[np.sort(np.asarray(keep))]
    groups = training_groups(idx, labels, speakers, c.call_groups, seed)
    channels = CHANNELS if c.telephone_train else ("clean",)
    rows = np.concatenate([group_rows(x[ch][idx][:, cols], np.asarray([f"{g}/{ch}" for g in groups])) for ch in channels])
    emb = np.concatenate([e[ch][idx] for ch in channels])
    y = np.concatenate([labels[idx]] * len(channels))
    seed_everything(seed)
    model = build_model("utterance_mlp", len(classes), view=c.view, shrink=c.shrink, feature_dim=len(cols),
                        hidden=c.hidden, speaker_dim=c.speaker_dim, dropout=c.dropout)
    model.fit_normalizer(rows)
    pca = SpeakerPca.fit(emb, width=c.speaker_dim, corpora=["train"]) if c.speaker_dim else None
    config = TrainConfig.from_dict({"optimizer": "adamw", "lr": c.lr, "weight_decay": c.weight_decay, "batch_size": 64,
                                    "max_epochs": c.epochs, "schedule": "cosine", "label_smoothing": c.label_smoothing,
                                    "early_stopping_patience": None, "amp": False, "num_threads": 1, "seed": seed})
    tmp = tempfile.mkdtemp()
    trainer = Trainer(model, config, device="cpu", checkpoint_dir=Path(tmp))
    trainer.fit(TensorBatches.from_numpy(rows, y, speaker=None if pca is None else pca.transform(emb)))

    def predict(raw: np.ndarray, emb_test: np.ndarray, groups: np.ndarray) -> np.ndarray:
        r = group_rows(raw[:, cols], groups)
        probs, _ = trainer.predict(TensorBatches.from_numpy(r, np.zeros(len(r), np.int64),
                                                            speaker=None if pca is None else pca.transform(emb_test)),
                                   embeddings=False)
        return probs

    return predict


def train_anchor(x: dict[str, np.ndarray], e: dict[str, np.ndarray], labels: np.ndarray, speakers: np.ndarray,
                 train_idx: np.ndarray, classes: list[str], seed: int = 0):
    """The simple anchor: logistic regression (C=0.01) on eGeMAPS (88) + GE2E (256), per-group z-scores."""
    from sklearn.linear_model import LogisticRegression

    from shared.training.balancing import undersample

    keep, _ = undersample([str(labels[i]) for i in train_idx], seed)
    idx = train_idx[np.sort(np.asarray(keep))]

    def z(raw: np.ndarray, emb: np.ndarray, groups: np.ndarray) -> np.ndarray:
        f = np.concatenate([raw[:, :88], emb], axis=1).astype(np.float64)
        out = np.empty_like(f)
        for g in set(groups):
            m = groups == g
            std = f[m].std(axis=0)
            out[m] = (f[m] - f[m].mean(axis=0)) / np.where(std < 1e-8, 1.0, std)
        return out

    clf = LogisticRegression(C=0.01, max_iter=2000).fit(z(x["clean"][idx], e["clean"][idx], speakers[idx]), labels[idx])
    return lambda raw, emb, groups: clf.predict_proba(z(raw, emb, groups))


def score(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    from shared.evaluation.calibration import expected_calibration_error
    from shared.evaluation.metrics import compute_metrics

    m = compute_metrics([classes[i] for i in labels], [classes[i] for i in probs.argmax(1)], classes)
    return {"uar": round(100 * m.uar, 1), "n": int(len(labels)), "ece": round(expected_calibration_error(probs, labels), 3),
            "recall": {c: round(100 * s.recall, 1) for c, s in m.per_class.items()}}


@dataclass
class Outcome:
    """Out-of-fold posteriors of one candidate: key (fold, regime, channel) -> (probs, labels)."""

    label: str
    oof: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def run(name: str, outcome: Outcome, x, e, labels, speakers, corpus, classes) -> None:
    for test, _ in CORPORA:
        train_idx, test_idx = np.flatnonzero(corpus != test), np.flatnonzero(corpus == test)
        predict = (train_anchor(x, e, labels, speakers, train_idx, classes) if name == "anchor"
                   else train_candidate(CANDIDATES[name], x, e, labels, speakers, train_idx, classes))
        for regime in REGIMES:
            calls = make_calls(test_idx, labels, speakers, regime)
            used = test_idx[calls != ""]
            groups = calls[calls != ""]
            for ch in CHANNELS:
                outcome.oof[(test, regime, ch)] = (predict(x[ch][used], e[ch][used], groups), labels[used])


def outcome_of(name: str, x, e, labels, speakers, corpus, classes) -> Outcome:
    """One candidate's out-of-fold posteriors; ``a+b``: the mean of candidates a's and b's posteriors."""
    if "+" in name:
        parts = [outcome_of(n, x, e, labels, speakers, corpus, classes) for n in name.split("+")]
        mean = Outcome(" + ".join(p.label for p in parts) + " (mean posterior)")
        for key, (_, y0) in parts[0].oof.items():
            mean.oof[key] = (np.mean([p.oof[key][0] for p in parts], axis=0), y0)
        return mean
    outcome = Outcome(CANDIDATES[name].label if name in CANDIDATES else "LR (C=0.01), eGeMAPS88 + GE2E, per-group z")
    run(name, outcome, x, e, labels, speakers, corpus, classes)
    return outcome


def summarise(outcome: Outcome, classes: list[str]) -> dict:
    from shared.evaluation.calibration import expected_calibration_error, fit_temperature, scale, uncertain_threshold

    folds = [t for t, _ in CORPORA]
    out: dict = {"label": outcome.label, "cells": {}}
    for key, (p, y) in outcome.oof.items():
        out["cells"]["/".join(key)] = score(p, y, classes)
    for regime in REGIMES:
        for ch in CHANNELS:
            uars = [out["cells"][f"{f}/{regime}/{ch}"]["uar"] for f in folds]
            worst = min(min(out["cells"][f"{f}/{regime}/{ch}"]["recall"].values()) for f in folds)
            out[f"{regime}/{ch}"] = {"mean_uar": round(float(np.mean(uars)), 1), "worst_recall": worst}
    # calibration: a temperature fitted on the other four held-out corpora, scored on the fifth
    calibrated, eces_before, eces_after = [], [], []
    for f in folds:
        fit = [outcome.oof[k] for k in outcome.oof if k[0] != f and k[1] != "speaker"]
        t = fit_temperature(np.concatenate([p for p, _ in fit]), np.concatenate([y for _, y in fit]))
        test = [outcome.oof[k] for k in outcome.oof if k[0] == f and k[1] != "speaker"]
        p, y = np.concatenate([p for p, _ in test]), np.concatenate([y for _, y in test])
        eces_before.append(expected_calibration_error(p, y))
        calibrated.append((scale(p, t), y))
        eces_after.append(expected_calibration_error(scale(p, t), y))
    every = [v for k, v in outcome.oof.items() if k[1] != "speaker"]
    p_all, y_all = np.concatenate([p for p, _ in every]), np.concatenate([y for _, y in every])
    temperature = fit_temperature(p_all, y_all)
    threshold = uncertain_threshold(scale(p_all, temperature))
    kept = scale(p_all, temperature).max(1) >= threshold
    correct = scale(p_all, temperature).argmax(1) == y_all
    out["calibration"] = {"temperature": round(temperature, 3), "ece_before_mean": round(float(np.mean(eces_before)), 3),
                          "ece_after_mean": round(float(np.mean(eces_after)), 3),
                          "ece_after_max": round(float(np.max(eces_after)), 3),
                          "uncertain_below": round(threshold, 3),
                          "accuracy_kept": round(100 * float(correct[kept].mean()), 1),
                          "accuracy_uncertain": round(100 * float(correct[~kept].mean()), 1)}
    out["_calibrated"] = calibrated
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--candidates", default="anchor," + ",".join(CANDIDATES))
    parser.add_argument("--out", default="callers")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    corpora_root = Path(os.environ.get("SER_CORPORA", ROOT.parent / "shared" / "corpora"))
    from shared.corpora.labels import get_label_map
    from shared.evaluation.calibration import plot_reliability, reliability
    from shared.settings import Settings

    items = list(manifest(corpora_root))
    classes = list(get_label_map(LABEL_MAP).classes)
    labels = np.asarray([classes.index(str(i.label)) for i in items])
    speakers = np.asarray([i.speaker_key for i in items], dtype=object)
    corpus = np.asarray([i.corpus for i in items])
    x, e, extract_s = {}, {}, {}
    for ch in CHANNELS:
        started = time.perf_counter()
        x[ch], e[ch] = extract(items, corpora_root, Settings.from_env().artifacts_dir / "cache", args.jobs, ENCODER, ch)
        extract_s[ch] = round(time.perf_counter() - started, 1)
        print(f"features ({ch}) of {len(items)} clips in {extract_s[ch]:.0f} s", flush=True)
    results = {}
    for name in [n for n in args.candidates.split(",") if n]:
        started = time.perf_counter()
        outcome = outcome_of(name, x, e, labels, speakers, corpus, classes)
        summary = summarise(outcome, classes)
        calibrated = summary.pop("_calibrated")
        p = np.concatenate([c for c, _ in calibrated])
        y = np.concatenate([t for _, t in calibrated])
        plot_reliability(reliability(p, y), RESULTS / f"{args.out}_{name}_reliability.png", name)
        summary["seconds"] = round(time.perf_counter() - started, 1)
        summary["candidate"] = ({n: asdict(CANDIDATES[n]) for n in name.split("+") if n in CANDIDATES} or None)
        results[name] = summary
        print(name, json.dumps({k: v for k, v in summary.items() if "/" in k or k == "calibration"}), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"command": "SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_callers.py",
            "machine": "2-core x86_64 VM, 24 GiB, no GPU", "clips": len(items), "label_map": LABEL_MAP,
            "extract_seconds": extract_s, "regimes": REGIMES, "skew_share": SKEW_SHARE}
    path = RESULTS / f"{args.out}.json"
    old = json.loads(path.read_text())["results"] if path.exists() else {}
    path.write_text(json.dumps({"meta": meta, "results": {**old, **results}}, indent=2))
    write_table({**old, **results}, RESULTS / f"{args.out}.md")


def write_table(results: dict, path: Path) -> None:
    head = ("| candidate | eval (speaker) | balanced | skewed | long | balanced tel. | skewed tel. | long tel. "
            "| **mean of the six call cells** | worst class recall | ECE raw -> calibrated (max) | T | uncertain below |")
    lines = [head, "|---" * 13 + "|"]
    for name, r in results.items():
        cells = [r[f"{g}/clean"]["mean_uar"] for g in REGIMES] + [r[f"{g}/telephone"]["mean_uar"] for g in REGIMES if g != "speaker"]
        worst = min(r[f"{g}/{ch}"]["worst_recall"] for g in REGIMES if g != "speaker" for ch in CHANNELS)
        c = r["calibration"]
        lines.append(f"| {name}: {r['label']} | " + " | ".join(f"{v:.1f}" for v in cells)
                     + f" | **{np.mean(cells[1:]):.1f}** | {worst:.1f} | {c['ece_before_mean']:.3f} -> {c['ece_after_mean']:.3f} ({c['ece_after_max']:.3f})"
                     f" | {c['temperature']:.2f} | {c['uncertain_below']:.2f} |")
    path.write_text("Mean UAR % over the five held-out corpora (leave-one-corpus-out), per-utterance; calls grouped "
                    "as described in bench_callers.py\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
