"""Calls from held-out corpora through the running stack: what a contact centre would see.

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_calls.py [--held-out ...] [--regimes ...]
        [--anchor] [--eval-path] [--retrain] [--recipe RECIPE.yaml]

For each held-out corpus C of a leave-one-corpus-out fold (default: all five):

1. **Model.** ``--recipe`` (default: the shipped default's, ``shared/recipes/default/default_model.yaml``)
   with its protocol replaced by ``cross_corpus`` (train on the other four corpora, test on C) and
   ``publish: {name: loco-C, promote: default}``, run in-process by the project's runner into a bench
   registry (``WORK/registry``), reading the shared feature cache (``$SER_ARTIFACTS_DIR/cache``).
   Skipped when the registry already holds ``loco-C`` (``--retrain``).
2. **Calls**, in three regimes (``REGIMES``): *balanced*, 12 calls of 4 turns a side; *skewed*, 8 calls of
   10 turns a side, 75 % of each side one emotion (a caller who holds one state); *long*, 3 calls of 30
   turns a side. Two different speakers of C per call (agent on channel 0, customer on channel 1),
   alternating turns separated by seeded 0.5-1.2 s gaps; each turn is one whole corpus file (exact
   samples), the other channel is silent (-70 dBFS noise outside a channel's own turns); each file is
   used once per regime. A corpus whose speakers have too few files for a regime is reported, not
   padded. Written as 16 kHz PCM_16 WAV (clean) and as an 8 kHz G.711 mu-law WAV (telephone): each
   channel resampled to 8 kHz and band-limited to 300-3400 Hz (soxr HQ, 4th-order Butterworth,
   zero-phase), then mu-law coded by libsndfile. The truth goes to ``WORK/calls/<corpus>/<regime>/truth.csv``.
3. **Call path.** ``ser up`` as a subprocess (its own ``SER_ARTIFACTS_DIR`` = WORK, free ports, its own
   Redis database, models preloaded), every call uploaded through the gateway with the CLI's own client
   (``services.cli.analyze.analyze_file``: AnalyzeUpload, streamed from disk) naming ``loco-C:VERSION``,
   then ``ser down``. An utterance's posterior is the duration-weighted mean of the posteriors of the
   timeline segments on its channel that overlap it; one that no segment overlaps is a miss and counts
   as wrong. Scored per utterance: UAR, per-class recall, ECE (15 bins).
4. ``--anchor``: the logistic-regression anchor (eGeMAPS 88 + GE2E, C=0.01, z-scored per call channel)
   trained on the same four corpora and scored on exactly the same utterance spans.
5. ``--eval-path``: ``ser eval`` of the same model on the same utterances, grouped by corpus speaker and
   by call channel (the parity check of the earlier version of this benchmark).

Results: tests/bench/results/<--out>.json and .md. Corpus audio and calls stay under WORK (default
artifacts/bench-calls, git-ignored); nothing derived from the corpora is committed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.helpers import free_port  # noqa: E402

CORPORA = {"ravdess": "RAVDESS", "tess": "TESS", "savee": "SAVEE", "urdu": "URDU", "turevdb": "TurEV-DB"}
LANGUAGES = {"ravdess": "en", "tess": "en", "savee": "en", "urdu": "ur", "turevdb": "tr"}
RECIPE = REPO / "shared" / "recipes" / "default" / "default_model.yaml"
RESULTS = REPO / "tests" / "bench" / "results"
MACHINE = "2-core x86_64 VM, 24 GiB, no GPU, shared with other work while measuring"
RATE, PHONE_RATE = 16000, 8000
GAP_S = (0.5, 1.2)
NOISE_RMS = 10 ** (-70 / 20)
ROLES = ("agent", "customer")
CONDITIONS = ("clean", "telephone")
GROUPINGS = ("speaker", "participant")


@dataclass(frozen=True)
class Regime:
    """A set of calls: ``calls`` calls of ``per_side`` turns a side; ``dominant``: the share of turns of a
    side that carry that side's one dominant emotion (a caller who holds one state), None: interleaved."""

    name: str
    calls: int
    per_side: int
    dominant: float | None = None


REGIMES = {"balanced": Regime("balanced", 12, 4), "skewed": Regime("skewed", 8, 10, 0.75),
           "long": Regime("long", 3, 30)}


class PlanError(Exception):
    """The corpus has too few unused files of one speaker for the next call."""


@dataclass(frozen=True)
class Utterance:
    call: str
    channel: int
    role: str
    start_ms: int
    end_ms: int
    label: str
    speaker: str
    source: str

    @property
    def participant(self) -> str:
        return f"{self.call}-{self.role}"


# ---------------------------------------------------------------------------------------------- model
def train_model(held_out: str, registry_root: Path, cache: Path, out_root: Path, retrain: bool, recipe: Path = RECIPE
                ) -> dict[str, Any]:
    """loco-<held_out>: the recipe trained on the other corpora through the runner, published as default."""
    from shared.errors import NotFound
    from shared.experiments.runner import run_experiment
    from shared.experiments.spec import load_spec
    from shared.registry import ModelRegistry

    name = f"loco-{held_out}"
    registry = ModelRegistry(registry_root)
    if not retrain:
        try:
            card = registry.card(name, "default")
            print(f"{name}: using registered version {card.version} (--retrain to train again)", flush=True)
            return {"name": name, "version": card.version, "trained_now": False, "card_metrics": card.metrics,
                    "model_config": dict(card.model_config)}
        except NotFound:
            pass
    train = [c for c in CORPORA if c != held_out]
    # The recipe's protocol (leave_one_corpus_out, params rotate_validation) is replaced, not merged:
    # load_spec's deep merge would keep rotate_validation, which cross_corpus does not take.
    data = load_spec(recipe).model_dump(mode="json")
    data["protocol"] = {"kind": "cross_corpus", "params": {"train": train, "test": [held_out]}}
    spec = load_spec(data, {"name": f"{data['name']}-{held_out}", "publish": {"name": name, "promote": "default"}})
    out_dir = out_root / name
    shutil.rmtree(out_dir, ignore_errors=True)  # a kept split result would skip training and leave nothing to publish
    started = time.perf_counter()
    print(f"{name}: training on {'+'.join(train)} ...", flush=True)
    result = run_experiment(spec, out_dir, registry_root=registry_root, feature_cache=cache)
    seconds = time.perf_counter() - started
    pooled = result.report.aggregate().pooled
    assert result.model_ref is not None
    print(f"{name}: published {result.model_ref[0]}:{result.model_ref[1]} in {seconds:.0f} s; "
          f"UAR on all of {held_out} {100 * pooled.uar:.1f}%", flush=True)
    return {"name": name, "version": result.model_ref[1], "trained_now": True, "train_seconds": round(seconds, 1),
            "heldout_uar_all_clips": round(float(pooled.uar), 4), "heldout_clips": int(pooled.confusion.sum()),
            "report": str(out_dir / "report.md"), "model_config": dict(spec.model.overrides) if spec.model else {}}


# ---------------------------------------------------------------------------------------------- calls
def corpus_items(held_out: str, corpora_root: Path, label_map: str) -> list[Any]:
    from shared.corpora.labels import get_label_map
    from shared.corpora.registry import load_corpus

    manifest = load_corpus(held_out, corpora_root / CORPORA[held_out])
    mapped, _ = get_label_map(label_map).apply(manifest)
    return sorted(mapped, key=lambda i: str(i.path))


def plan_calls(items: list[Any], classes: list[str], seed: int, regime: Regime) -> list[list[tuple[int, Any]]]:
    """Per call, its turns in order as (channel, corpus item): agent and customer alternate.

    Speakers are picked greedily: the one that can give most of the wanted labels from its unused
    files (labels used less so far weigh more), then the one used least so far, then at random. In a
    skewed regime each side holds its own dominant emotion (rotating over the classes) for
    ``regime.dominant`` of its turns and the rest are the least-used other labels, in seeded order.
    Every file is used at most once; the plan stops early (at least one call) when the corpus runs out."""
    rng = np.random.default_rng(seed)
    pool: dict[str, dict[str, list[Any]]] = {}
    for item in items:
        pool.setdefault(item.speaker, {}).setdefault(str(item.label), []).append(item)
    for by_label in pool.values():
        for label, files in by_label.items():
            by_label[label] = [files[k] for k in rng.permutation(len(files))]
    used: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    per_role = regime.per_side
    order = ["angry", "sad", "happy", "neutral"]
    order = [c for c in order if c in classes] + [c for c in classes if c not in order]

    def left(speaker: str, label: str | None = None) -> int:
        by_label = pool[speaker]
        return len(by_label.get(label, [])) if label else sum(len(v) for v in by_label.values())

    def pick(want: list[str], exclude: set[str], dominant: str | None) -> str:
        candidates = [s for s in sorted(pool) if s not in exclude and left(s) >= per_role]
        if dominant:
            candidates = [s for s in candidates if left(s, dominant) >= want.count(dominant)]
        if not candidates:
            raise PlanError(f"too few unused files for call {len(plans)} ({Counter(want)})")
        noise = {s: float(rng.random()) for s in candidates}

        def coverage(s: str) -> float:  # wanted files it can give, the rarer labels so far counting more
            return sum(min(n, left(s, label)) / (1 + counts[label]) for label, n in Counter(want).items())

        return min(candidates, key=lambda s: (-coverage(s), used[s], noise[s]))

    def take(speaker: str, want: list[str]) -> list[Any]:
        by_label = pool[speaker]
        out: list[Any] = []
        for label in want:
            if by_label.get(label):
                out.append(by_label[label].pop())
        while len(out) < len(want):
            label = max(by_label, key=lambda k: (len(by_label[k]), k))
            out.append(by_label[label].pop())
        used[speaker] += 1
        return [out[k] for k in rng.permutation(len(out))]

    def mixed(n: int, leave_out: str | None = None) -> list[str]:
        """The labels used least so far (ties at random), so a corpus whose speakers hold one emotion each
        still gets every class."""
        labels = sorted((c for c in classes if c != leave_out), key=lambda c: (counts[c], float(rng.random())))
        return [str(c) for c in np.resize(np.asarray(labels), n)] if n else []

    def want_of(dominant: str | None) -> list[str]:
        if dominant is None:
            return mixed(per_role)
        n = int(round(per_role * (regime.dominant or 0)))
        return [dominant] * n + mixed(per_role - n, dominant)

    plans: list[list[tuple[int, Any]]] = []
    for k in range(regime.calls):
        dominants = ((order[k % len(order)], order[(k + 1) % len(order)]) if regime.dominant else (None, None))
        try:
            customer_want = want_of(dominants[0])
            customer = pick(customer_want, set(), dominants[0])
            customer_items = take(customer, customer_want)
            counts.update(str(i.label) for i in customer_items)
            agent_want = want_of(dominants[1])
            agent = pick(agent_want, {customer}, dominants[1])
        except PlanError:
            if not plans:
                raise
            break
        agent_items = take(agent, agent_want)
        counts.update(str(i.label) for i in agent_items)
        turns = []
        for n in range(per_role):
            turns += [(0, agent_items[n]), (1, customer_items[n])]
        plans.append(turns)
    return plans


def band_limit(x: np.ndarray, rate: int) -> np.ndarray:
    """``shared.features.augment.telephone`` up to its coding step: soxr HQ to 8 kHz, 300-3400 Hz 4th-order
    Butterworth band-pass (zero-phase). The G.711 coding is left to libsndfile's ULAW writer."""
    import soxr
    from scipy.signal import butter, sosfiltfilt

    narrow = soxr.resample(np.asarray(x, dtype=np.float64), rate, PHONE_RATE, quality="HQ")
    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=PHONE_RATE, output="sos")
    return np.clip(sosfiltfilt(sos, narrow), -1.0, 1.0)


def build_calls(held_out: str, items: list[Any], classes: list[str], out_dir: Path, seed: int, regime: Regime
                ) -> tuple[list[dict[str, Any]], list[Utterance]]:
    """Write every call (clean and telephone) and return (calls, truth)."""
    import soundfile as sf

    from shared.audio.decode import decode
    from shared.experiments.data import AudioStore

    out_dir.mkdir(parents=True, exist_ok=True)
    store = AudioStore()
    rng = np.random.default_rng(seed + 1)
    calls, truth = [], []
    for k, turns in enumerate(plan_calls(items, classes, seed, regime)):
        call_id = f"{held_out}-{regime.name}{k:02d}"
        placed: list[tuple[int, int, np.ndarray, Any]] = []
        t_ms = last_end = int(round(1000 * rng.uniform(*GAP_S)))
        for channel, item in turns:
            clip = store.get(item)
            if clip is None:
                raise SystemExit(f"cannot decode {item.path}: {store.failed.get(item.key)}")
            end_ms = t_ms + -(-len(clip) * 1000 // RATE)
            placed.append((channel, t_ms, clip, item))
            truth.append(Utterance(call_id, channel, ROLES[channel], t_ms, end_ms, str(item.label), item.speaker,
                                   str(item.path)))
            last_end, t_ms = end_ms, end_ms + int(round(1000 * rng.uniform(*GAP_S)))
        n = (last_end + 500) * RATE // 1000
        stereo = np.zeros((n, 2), dtype=np.float64)
        quiet = np.ones((n, 2), dtype=bool)
        for channel, start_ms, clip, _ in placed:
            a = start_ms * RATE // 1000
            stereo[a : a + len(clip), channel] = clip
            quiet[a : a + len(clip), channel] = False
        stereo[quiet] = NOISE_RMS * rng.standard_normal(int(quiet.sum()))
        clean = out_dir / f"{call_id}.wav"
        sf.write(clean, stereo.astype(np.float32), RATE, subtype="PCM_16")
        written = decode(clean).samples
        for channel, start_ms, clip, item in placed:  # the clean call carries every turn's exact samples
            a = start_ms * RATE // 1000
            if not np.array_equal(written[channel, a : a + len(clip)], clip):
                raise SystemExit(f"{clean}: turn {item.path.name} is not bit-exact in the call")
        phone = out_dir / f"{call_id}.phone.wav"
        sf.write(phone, np.stack([band_limit(stereo[:, c], RATE) for c in range(2)], axis=1).astype(np.float32),
                 PHONE_RATE, subtype="ULAW")
        customer_labels = {str(item.label) for channel, item in turns if channel == 1}
        calls.append({"call": call_id, "clean": str(clean), "telephone": str(phone), "duration_s": n / RATE,
                      "agent": turns[0][1].speaker, "customer": turns[1][1].speaker,
                      "customer_single_emotion": sorted(customer_labels)[0] if len(customer_labels) == 1 else None})
    with open(out_dir / "truth.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(truth[0])))
        writer.writeheader()
        writer.writerows(asdict(u) for u in truth)
    (out_dir / "calls.json").write_text(json.dumps(calls, indent=2))
    return calls, truth


# ---------------------------------------------------------------------------------------------- eval path
def eval_manifest(path: Path, held_out: str, truth: list[Utterance], calls: list[dict[str, Any]], condition: str,
                  grouping: str) -> Path:
    """A CSV manifest of exactly the calls' utterances (shared.corpora.csv_manifest columns)."""
    phone = {c["call"]: c["telephone"] for c in calls}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker", "corpus", "language", "start", "duration", "channel"])
        for u in truth:
            speaker = u.speaker if grouping == "speaker" else u.participant
            if condition == "clean":
                writer.writerow([u.source, u.label, speaker, f"calls-{held_out}", LANGUAGES[held_out], "", "", 0])
            else:
                writer.writerow([phone[u.call], u.label, speaker, f"calls-{held_out}", LANGUAGES[held_out],
                                 f"{u.start_ms / 1000:.3f}", f"{(u.end_ms - u.start_ms) / 1000:.3f}", u.channel])
    return path


def eval_path(model: dict[str, Any], manifest: Path, registry_root: Path, cache: Path, out_dir: Path
              ) -> dict[str, Any]:
    """``ser eval`` of the registered model on the manifest; per-utterance posteriors by (path, channel, start)."""
    from shared.experiments.runner import ExperimentRun
    from shared.experiments.spec import load_spec
    from shared.features.windowing import pool_by_source
    from shared.training.loop import Trainer

    ref = f"{model['name']}:{model['version']}"
    # what `ser eval` runs: protocol test_only; model, inputs, label map and normalisation from the card
    spec = load_spec({"name": f"eval {ref} on {manifest.stem}", "corpora": [{"name": "csv", "root": str(manifest)}],
                      "missing_corpora": "error", "protocol": {"kind": "test_only"}, "evaluate_model": ref,
                      "tsne": False})
    shutil.rmtree(out_dir, ignore_errors=True)
    started = time.perf_counter()
    run = ExperimentRun(spec, out_dir, registry_root=registry_root, evaluate_only=True, feature_cache=cache)
    report = run.run().report
    seconds = time.perf_counter() - started
    # The split's own posteriors, recomputed exactly as run_split computes them (its return value keeps only metrics).
    test = run._last_parts["test"]
    probs, _ = Trainer(run.model, run.train_config, device=run.device).predict(run._batches(test), embeddings=False)
    clip_probs = pool_by_source(probs, test.inputs.source, test.inputs.num_clips)
    posteriors = {(str(i.path), i.channel, round(1000 * i.start_s)): clip_probs[n] for n, i in enumerate(test.manifest)}
    return {"posteriors": posteriors, "classes": list(run.classes), "seconds": round(seconds, 1),
            "report_uar": float(report.aggregate().pooled.uar), "skipped_files": len(run.audio.failed)}


def eval_key(u: Utterance, condition: str, calls: list[dict[str, Any]]) -> tuple[str, int, int]:
    if condition == "clean":
        return (u.source, 0, 0)
    return (next(c["telephone"] for c in calls if c["call"] == u.call), u.channel, u.start_ms)


# ---------------------------------------------------------------------------------------------- call path
class Stack:
    """``ser up`` / ``ser down`` as a user runs them, on WORK's registry, free ports and its own Redis database."""

    def __init__(self, work: Path, redis_db: int) -> None:
        from shared.settings import SERVICE_PORTS

        self.env = {**os.environ, "SER_ARTIFACTS_DIR": str(work), "SER_PRELOAD_MODELS": "1",
                    "SER_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}", "SER_LOG_JSON": "0"}
        for name in SERVICE_PORTS:
            self.env[f"SER_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
        self.ser = str(Path(sys.executable).parent / "ser")
        self.up_seconds = 0.0
        self.up_output = ""

    def __enter__(self) -> Any:
        from shared.settings import Settings

        started = time.perf_counter()
        done = subprocess.run([self.ser, "up"], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=900)
        self.up_seconds = time.perf_counter() - started
        self.up_output = done.stdout + done.stderr
        print(self.up_output, flush=True)
        if done.returncode != 0:
            self.__exit__()
            raise SystemExit(f"ser up failed ({done.returncode})")
        return Settings.from_env(self.env)

    def __exit__(self, *exc: object) -> None:
        done = subprocess.run([self.ser, "down"], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=300)
        print(done.stdout + done.stderr, flush=True)


def analyse(calls: list[dict[str, Any]], condition: str, settings: Any, model_ref: str) -> list[dict[str, Any]]:
    from services.cli.analyze import analyze_file

    out = []
    for call in calls:
        started = time.perf_counter()
        result = analyze_file(Path(call[condition]), settings, model=model_ref)
        wall = time.perf_counter() - started
        out.append({"call": call["call"], "wall_s": wall, "result": result})
        print(f"  {call['call']} {condition}: {len(result['timeline'])} segments, {wall:.2f} s "
              f"({call['duration_s']:.1f} s of audio)", flush=True)
    return out


def call_posteriors(result: dict[str, Any], utterances: list[Utterance], classes: list[str]
                    ) -> tuple[dict[tuple[str, int, int], np.ndarray | None], dict[tuple[str, int, int], int]]:
    """Each utterance's duration-weighted mean of the overlapping segments' posteriors on its channel,
    and how many segments overlap it."""
    segments = []
    for entry in result["timeline"]:
        probs = dict(zip(entry["emotion"]["labels"], entry["emotion"]["probs"], strict=True))
        segments.append((entry["segment"]["channel"], entry["segment"]["start_ms"], entry["segment"]["end_ms"],
                         np.asarray([probs[c] for c in classes], dtype=np.float64)))
    out: dict[tuple[str, int, int], np.ndarray | None] = {}
    counts: dict[tuple[str, int, int], int] = {}
    for u in utterances:
        total, weighted, n = 0, np.zeros(len(classes)), 0
        for channel, start, end, p in segments:
            overlap = min(end, u.end_ms) - max(start, u.start_ms)
            if channel == u.channel and overlap > 0:
                total += overlap
                weighted += overlap * p
                n += 1
        key = (u.call, u.channel, u.start_ms)
        out[key], counts[key] = (weighted / total if total else None), n
    return out, counts


# ---------------------------------------------------------------------------------------------- scoring
def uar(truth: list[str], predicted: list[str | None], classes: list[str]) -> float:
    """Mean recall over the classes present in ``truth`` (as shared.evaluation.metrics); None = a miss, wrong."""
    recalls = []
    for c in classes:
        idx = [n for n, t in enumerate(truth) if t == c]
        if idx:
            recalls.append(sum(predicted[n] == c for n in idx) / len(idx))
    return float(np.mean(recalls)) if recalls else float("nan")


def compare(utterances: list[Utterance], call_p: dict, segments: dict, eval_p: dict[str, dict], classes: list[str]
            ) -> dict[str, Any]:
    truth = [u.label for u in utterances]
    keys = [(u.call, u.channel, u.start_ms) for u in utterances]
    call_pred = [None if call_p[k] is None else classes[int(np.argmax(call_p[k]))] for k in keys]
    row: dict[str, Any] = {"utterances": len(utterances), "scored": sum(p is not None for p in call_pred),
                           "misses": sum(p is None for p in call_pred),
                           "split_over_segments": sum(segments[k] > 1 for k in keys),
                           "call_uar": round(uar(truth, call_pred, classes), 4)}
    for grouping, posteriors in eval_p.items():
        pred = [classes[int(np.argmax(posteriors[k]))] for k in keys]
        row[f"eval_uar_{grouping}"] = round(uar(truth, pred, classes), 4)
        both = [n for n, k in enumerate(keys) if call_p[k] is not None]
        row[f"top_label_agreement_{grouping}"] = round(float(np.mean([call_pred[n] == pred[n] for n in both])), 4)
        row[f"mean_max_abs_posterior_diff_{grouping}"] = round(float(np.mean(
            [np.abs(call_p[keys[n]] - posteriors[keys[n]]).max() for n in both])), 4)
    row["diff_points"] = round(100 * (row["call_uar"] - row["eval_uar_speaker"]), 1)
    row["diff_points_participant"] = round(100 * (row["call_uar"] - row["eval_uar_participant"]), 1)
    return row


def call_scores(utterances: list[Utterance], posteriors: dict, classes: list[str]) -> dict[str, Any]:
    """Per-utterance UAR, per-class recall and ECE (15 bins) of one path's posteriors; a miss (None) is wrong."""
    from shared.evaluation.calibration import expected_calibration_error

    keys = [(u.call, u.channel, u.start_ms) for u in utterances]
    truth = [u.label for u in utterances]
    pred = [None if posteriors[k] is None else classes[int(np.argmax(posteriors[k]))] for k in keys]
    recall = {c: round(100 * sum(p == c for p, t in zip(pred, truth, strict=True) if t == c) / n, 1)
              for c in classes if (n := truth.count(c))}
    scored = [n for n, k in enumerate(keys) if posteriors[k] is not None]
    ece = (expected_calibration_error(np.stack([posteriors[keys[n]] for n in scored]),
                                      np.asarray([classes.index(truth[n]) for n in scored])) if scored else float("nan"))
    return {"utterances": len(keys), "misses": len(keys) - len(scored), "uar": round(100 * uar(truth, pred, classes), 1),
            "recall": recall, "ece": round(float(ece), 3)}


# ---------------------------------------------------------------------------------------------- anchor
def anchor_model(held_out: str, corpora_root: Path, cache: Path, label_map: str, classes: list[str]) -> Any:
    """The simple anchor (tests/bench/bench_callers.py): LR on eGeMAPS (88) + GE2E, per-speaker z, trained
    on the other four corpora from the shared feature cache."""
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from bench_callers import train_anchor
    from bench_loco import features_of

    from shared.corpora.items import Manifest
    from shared.corpora.labels import get_label_map
    from shared.corpora.registry import load_corpus

    loaded = Manifest.concat([load_corpus(c, corpora_root / folder) for c, folder in CORPORA.items() if c != held_out])
    items = list(get_label_map(label_map).apply(loaded)[0])
    x, e = features_of(items, cache)
    labels = np.asarray([classes.index(str(i.label)) for i in items])
    speakers = np.asarray([i.speaker_key for i in items], dtype=object)
    return train_anchor({"clean": x}, {"clean": e}, labels, speakers, np.arange(len(items)), classes)


def anchor_posteriors(predict: Any, manifest: Path, truth: list[Utterance], condition: str, calls: list[dict[str, Any]],
                      cache: Path) -> dict:
    """The anchor on exactly the call's utterances (the manifest's spans), grouped by call channel."""
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from bench_loco import features_of

    from shared.corpora.registry import load_corpus

    items = list(load_corpus("csv", manifest))
    x, e = features_of(items, cache)
    probs = predict(x, e, np.asarray([u.participant for u in truth], dtype=object))
    by_key = {(str(i.path), i.channel, round(1000 * i.start_s)): p for i, p in zip(items, probs, strict=True)}
    return {(u.call, u.channel, u.start_ms): by_key[eval_key(u, condition, calls)] for u in truth}


# ---------------------------------------------------------------------------------------------- report
def markdown(result: dict[str, Any]) -> str:
    lines = ["# Calls from held-out corpora through the running stack", "", f"Command: `{result['command']}`", "",
             f"Machine: {result['machine']}. {result['design']}", "",
             "| held-out corpus | regime | condition | utterances | misses | model UAR | per-class recall | ECE "
             "| anchor UAR | anchor recall | RTF |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        m, a = row["model"], row.get("anchor")
        recall = " ".join(f"{c[:3]} {v:.0f}" for c, v in m["recall"].items())
        anchor = (f"{a['uar']:.1f} | " + " ".join(f"{c[:3]} {v:.0f}" for c, v in a["recall"].items())) if a else "- | -"
        lines.append(f"| {row['corpus']} | {row['regime']} | {row['condition']} | {m['utterances']} | {m['misses']} | "
                     f"{m['uar']:.1f} | {recall} | {m['ece']:.3f} | {anchor} | {row['rtf']:.3f} |")
    lines += ["", "## Means over the held-out corpora", "", "| regime | condition | corpora | model UAR | worst class recall "
              "| ECE | anchor UAR | anchor UAR on the true spans |", "|---|---|---|---|---|---|---|---|"]
    for mean in result["means"]:
        lines.append(f"| {mean['regime']} | {mean['condition']} | {mean['corpora']} | {mean['uar']:.1f} | "
                     f"{mean['worst_recall']:.1f} | {mean['ece']:.3f} | {mean['anchor_uar']} | "
                     f"{mean['anchor_uar_on_spans']} |")
    if result.get("parity"):
        lines += ["", "## Call path vs eval (same utterances)", "", "| held-out | regime | condition | call UAR | eval "
                  "(speaker) | eval (participant) | agreement |", "|---|---|---|---|---|---|---|"]
        for p in result["parity"]:
            lines.append(f"| {p['corpus']} | {p['regime']} | {p['condition']} | {100 * p['call_uar']:.1f} | "
                         f"{100 * p['eval_uar_speaker']:.1f} | {100 * p['eval_uar_participant']:.1f} | "
                         f"{100 * p['top_label_agreement_participant']:.0f}% |")
    if result.get("skipped"):
        lines += ["", "Not planned: " + "; ".join(result["skipped"])]
    lines += ["", f"Stack start (`ser up`, models preloaded): {result['stack_up_s']:.0f} s. A miss (no segment overlaps "
              "the utterance) counts as wrong, for the anchor too (it would have gone through the same VAD); "
              "'anchor UAR on the true spans' scores it on every utterance's exact span instead. RTF = client wall "
              "time / audio duration, one call at a time."]
    return "\n".join(lines) + "\n"


def plan(args: argparse.Namespace, registry_root: Path, cache: Path, work: Path) -> tuple[dict, list[str]]:
    """Train (or reuse) each fold's model and write each regime's calls."""
    from shared.corpora.labels import get_label_map
    from shared.registry import ModelRegistry

    state: dict[tuple[str, str], dict[str, Any]] = {}
    skipped: list[str] = []
    for held_out in args.held_out:
        model = train_model(held_out, registry_root, cache, work / "experiments", args.retrain, args.recipe)
        card = ModelRegistry(registry_root).card(model["name"], model["version"])
        classes = list(card.labels)
        if list(get_label_map(card.label_map).classes) != classes:
            raise SystemExit(f"{model['name']}: card labels {classes} differ from its label map {card.label_map}")
        items = corpus_items(held_out, args.corpora, card.label_map)
        anchor = anchor_model(held_out, args.corpora, cache, card.label_map, classes) if args.anchor else None
        for name in args.regimes:
            try:
                calls, truth = build_calls(held_out, items, classes, work / "calls" / held_out / name, args.seed,
                                           REGIMES[name])
            except PlanError as exc:
                skipped.append(f"{held_out} {name}: {exc}")
                continue
            print(f"{held_out} {name}: {len(calls)} calls, {len(truth)} utterances, "
                  f"{sum(c['duration_s'] for c in calls):.0f} s per condition", flush=True)
            state[(held_out, name)] = {"model": model, "classes": classes, "calls": calls, "truth": truth,
                                       "anchor": anchor, "label_map": card.label_map}
    return state, skipped


def score_all(state: dict, analyses: dict, args: argparse.Namespace, registry_root: Path, cache: Path, work: Path
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, parity = [], []
    for (held_out, regime), s in state.items():
        classes, calls, truth = s["classes"], s["calls"], s["truth"]
        folder = work / "calls" / held_out / regime
        for condition in CONDITIONS:
            call_p: dict = {}
            n_segments: dict = {}
            for a in analyses[(held_out, regime)][condition]:
                p_call, n_call = call_posteriors(a["result"], [u for u in truth if u.call == a["call"]], classes)
                call_p.update(p_call)
                n_segments.update(n_call)
            wall = sum(a["wall_s"] for a in analyses[(held_out, regime)][condition])
            audio = sum(c["duration_s"] for c in calls)
            row = {"corpus": held_out, "regime": regime, "condition": condition, "model_ref": s["model"]["name"],
                   "model": call_scores(truth, call_p, classes), "rtf": round(wall / audio, 4), "audio_s": round(audio, 1)}
            manifest = eval_manifest(folder / f"eval-{condition}-participant.csv", held_out, truth, calls, condition,
                                     "participant")
            if s["anchor"] is not None:
                spans = anchor_posteriors(s["anchor"], manifest, truth, condition, calls, cache)
                # on the call path the anchor would miss what the VAD missed: those count as wrong for both
                row["anchor"] = call_scores(truth, {k: None if call_p[k] is None else p for k, p in spans.items()},
                                            classes)
                row["anchor_on_spans"] = call_scores(truth, spans, classes)
            rows.append(row)
            if args.eval_path:
                eval_p = {}
                for grouping in GROUPINGS:
                    path = eval_manifest(folder / f"eval-{condition}-{grouping}.csv", held_out, truth, calls, condition,
                                         grouping)
                    ev = eval_path(s["model"], path, registry_root, cache, work / "eval" / held_out / regime / grouping)
                    eval_p[grouping] = {(u.call, u.channel, u.start_ms): ev["posteriors"][eval_key(u, condition, calls)]
                                        for u in truth}
                parity.append({"corpus": held_out, "regime": regime, "condition": condition,
                               **compare(truth, call_p, n_segments, eval_p, classes)})
    return rows, parity


def means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for regime in REGIMES:
        for condition in CONDITIONS:
            mine = [r for r in rows if r["regime"] == regime and r["condition"] == condition]
            if not mine:
                continue
            anchors = [r["anchor"]["uar"] for r in mine if "anchor" in r]
            spans = [r["anchor_on_spans"]["uar"] for r in mine if "anchor_on_spans" in r]
            out.append({"regime": regime, "condition": condition, "corpora": len(mine),
                        "uar": round(float(np.mean([r["model"]["uar"] for r in mine])), 1),
                        "worst_recall": min(min(r["model"]["recall"].values()) for r in mine),
                        "ece": round(float(np.mean([r["model"]["ece"] for r in mine])), 3),
                        "anchor_uar": round(float(np.mean(anchors)), 1) if anchors else "-",
                        "anchor_uar_on_spans": round(float(np.mean(spans)), 1) if spans else "-"})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--held-out", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument("--recipe", type=Path, default=RECIPE, help="the recipe each fold trains (protocol replaced)")
    p.add_argument("--corpora", type=Path, default=Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" /
                                                                       "corpora")))
    p.add_argument("--work", type=Path, default=REPO / "artifacts" / "bench-calls",
                   help="bench registry, calls and stack state (SER_ARTIFACTS_DIR of the stack)")
    p.add_argument("--retrain", action="store_true", help="train loco-C even if the bench registry has it")
    p.add_argument("--anchor", action="store_true", help="score the LR anchor on the same utterances")
    p.add_argument("--eval-path", action="store_true", help="also run `ser eval` on the same utterances (parity)")
    p.add_argument("--redis-db", type=int, default=11, help="Redis database of the stack's Celery queues")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="calls", help="results file stem under tests/bench/results")
    args = p.parse_args()
    from shared.runtime import limit_threads
    from shared.settings import Settings

    limit_threads(2)
    args.corpora = args.corpora.resolve()
    os.environ.setdefault("SER_CORPORA", str(args.corpora))
    work = args.work.resolve()
    cache = (Settings.from_env().artifacts_dir / "cache").resolve()
    registry_root = work / "registry"
    registry_root.mkdir(parents=True, exist_ok=True)
    state, skipped = plan(args, registry_root, cache, work)
    analyses: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    stack = Stack(work, args.redis_db)
    with stack as settings:
        for (held_out, regime), s in state.items():
            ref = f"{s['model']['name']}:{s['model']['version']}"
            analyses[(held_out, regime)] = {c: analyse(s["calls"], c, settings, ref) for c in CONDITIONS}
    rows, parity = score_all(state, analyses, args, registry_root, cache, work)
    result = {
        "command": "SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_calls.py " + " ".join(sys.argv[1:]),
        "machine": MACHINE, "platform": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "recipe": str(args.recipe.relative_to(REPO) if args.recipe.is_relative_to(REPO) else args.recipe),
        "design": ("Stereo calls per held-out corpus (agent ch 0, customer ch 1, two different speakers of the corpus, "
                   f"{GAP_S[0]}-{GAP_S[1]} s gaps, each turn a whole corpus file, every file once per regime): "
                   + "; ".join(f"{r.name} {r.calls} calls of {r.per_side} turns a side"
                               + (f", {int(100 * r.dominant)} % one emotion per side" if r.dominant else "")
                               for r in REGIMES.values())
                   + ". Telephone = 8 kHz G.711 mu-law WAV, 300-3400 Hz. Each fold's model is the recipe trained "
                   "without the held-out corpus. Anchor = LR (C=0.01) on eGeMAPS 88 + GE2E, z-scored per call channel."),
        "stack_up_s": round(stack.up_seconds, 1), "rows": rows, "means": means(rows), "parity": parity,
        "skipped": skipped,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
