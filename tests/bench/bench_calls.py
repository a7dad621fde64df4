"""Calls: does the call path give the same emotions as the experiment path?

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_calls.py [--held-out savee urdu [turevdb]]

For each held-out corpus C (default SAVEE and URDU; URDU's speakers mostly hold one emotion):

1. **Model.** ``shared/recipes/features/loco_utterance.yaml`` (the shipped utterance feature model's
   recipe) with its protocol replaced by ``cross_corpus`` (train on the other four corpora, test on C)
   and ``publish: {name: loco-C, promote: default}``, run in-process by the project's runner into a
   bench registry (``WORK/registry``), reading the shared feature cache
   (``$SER_ARTIFACTS_DIR/cache``). Skipped when the registry already holds ``loco-C`` (``--retrain``).
2. **Calls.** 12 stereo calls per corpus, each with two different speakers of C (agent on channel 0,
   customer on channel 1) and 8 alternating turns (4 each) separated by seeded 0.5-1.2 s gaps; each
   turn is one whole corpus file (exact samples), the other channel is silent (-70 dBFS noise outside
   a channel's own turns). Customers of calls 0-5 are chosen to hold one emotion throughout (angry,
   sad, happy, neutral, angry, sad); the single-emotion subset below is taken from the truth (every
   customer whose 4 turns share one label, planned or not). Each utterance is used once per corpus.
   Written as 16 kHz PCM_16 WAV (clean) and as an 8 kHz G.711 mu-law WAV (telephone): each channel
   resampled to 8 kHz and band-limited to 300-3400 Hz exactly as ``shared.features.augment.telephone``
   does (soxr HQ, 4th-order Butterworth, zero-phase), then mu-law coded by libsndfile (real G.711,
   where ``augment.telephone`` uses a continuous mu-law curve). The truth (call, channel, start/end
   ms, label, speaker, source file) goes to ``WORK/calls/<corpus>/truth.csv``.
3. **Call path.** ``ser up`` as a subprocess (its own ``SER_ARTIFACTS_DIR`` = WORK, free ports,
   ``SER_REDIS_URL`` on its own Redis database so its worker takes no one else's jobs, models
   preloaded), every call uploaded through the gateway with the CLI's own client
   (``services.cli.analyze.analyze_file``: AnalyzeUpload, streamed from disk) naming ``loco-C:VERSION``,
   then ``ser down``. An utterance's posterior is the duration-weighted mean of the posteriors of the
   timeline segments on its channel that overlap it (weight = overlap); one that no segment overlaps
   is a miss and counts as wrong.
4. **Eval path** on exactly the same utterances: ``ser eval`` semantics (``ExperimentRun`` with
   ``evaluate_only=True`` and ``evaluate_model: loco-C:VERSION``; inputs, label map and normalisation
   from the model card, protocol ``test_only``) over a CSV manifest of exactly those utterances
   (``shared.corpora.csv_manifest``). Clean: the original corpus files. Telephone: the utterance's
   span of the telephone call (CSV start/duration/channel), i.e. the samples the call path received.
   Two groupings for the
   per-speaker statistics: ``speaker`` (the corpus speaker, over that speaker's utterances in all of
   C's calls: what ``ser eval`` does with the speakers a manifest names) and ``participant`` (one call's
   channel, which is all a call can know and what the call path uses).

Results: tests/bench/results/calls.json and calls.md. Corpus audio and calls stay under WORK
(default artifacts/bench-calls, git-ignored); nothing derived from the corpora is committed.
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
RECIPE = REPO / "shared" / "recipes" / "features" / "loco_utterance.yaml"
RESULTS = REPO / "tests" / "bench" / "results"
MACHINE = "2-core x86_64 VM, 24 GiB, no GPU, shared with other work while measuring"
RATE, PHONE_RATE = 16000, 8000
CALLS, TURNS, SINGLE = 12, 8, 6
GAP_S = (0.5, 1.2)
NOISE_RMS = 10 ** (-70 / 20)
ROLES = ("agent", "customer")
CONDITIONS = ("clean", "telephone")
GROUPINGS = ("speaker", "participant")


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
def train_model(held_out: str, registry_root: Path, cache: Path, out_root: Path, retrain: bool) -> dict[str, Any]:
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
    data = load_spec(RECIPE).model_dump(mode="json")
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


def plan_calls(items: list[Any], classes: list[str], seed: int) -> list[list[tuple[int, Any]]]:
    """Per call, its turns in order as (channel, corpus item): agent and customer alternate, 4 turns each.

    Speakers are picked greedily: the one that can give most of the wanted labels from its unused
    files (labels used less so far weigh more), then the one used least so far, then at random; calls 0..SINGLE-1 need a customer with 4 unused
    files of one label. Every file is used at most once."""
    rng = np.random.default_rng(seed)
    pool: dict[str, dict[str, list[Any]]] = {}
    for item in items:
        pool.setdefault(item.speaker, {}).setdefault(str(item.label), []).append(item)
    for by_label in pool.values():
        for label, files in by_label.items():
            by_label[label] = [files[k] for k in rng.permutation(len(files))]
    used: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    per_role = TURNS // 2
    single_labels = ["angry", "sad", "happy", "neutral"]
    single_labels = [c for c in single_labels if c in classes] + [c for c in classes if c not in single_labels]

    def left(speaker: str, label: str | None = None) -> int:
        by_label = pool[speaker]
        return len(by_label.get(label, [])) if label else sum(len(v) for v in by_label.values())

    def pick(want: list[str], exclude: set[str], strict: bool) -> str:
        candidates = [s for s in sorted(pool) if s not in exclude and left(s) >= per_role]
        if strict:
            candidates = [s for s in candidates if left(s, want[0]) >= per_role]
        if not candidates:
            raise SystemExit(f"the corpus has too few unused files for call {len(plans)} ({want}, strict={strict})")
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
        return out

    def mixed() -> list[str]:
        """The labels used least so far (ties at random), so a corpus whose speakers hold one emotion each
        still gets every class."""
        order = sorted(classes, key=lambda c: (counts[c], float(rng.random())))
        return [str(c) for c in rng.permutation(np.resize(np.asarray(order), per_role))]

    plans: list[list[tuple[int, Any]]] = []
    for k in range(CALLS):
        single = k < SINGLE
        customer_want = [single_labels[k % len(single_labels)]] * per_role if single else mixed()
        customer = pick(customer_want, set(), single)
        customer_items = take(customer, customer_want)
        counts.update(str(i.label) for i in customer_items)
        agent_want = mixed()
        agent = pick(agent_want, {customer}, False)
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


def build_calls(held_out: str, items: list[Any], classes: list[str], out_dir: Path, seed: int
                ) -> tuple[list[dict[str, Any]], list[Utterance]]:
    """Write every call (clean and telephone) and return (calls, truth)."""
    import soundfile as sf

    from shared.audio.decode import decode
    from shared.experiments.data import AudioStore

    out_dir.mkdir(parents=True, exist_ok=True)
    store = AudioStore()
    rng = np.random.default_rng(seed + 1)
    calls, truth = [], []
    for k, turns in enumerate(plan_calls(items, classes, seed)):
        call_id = f"{held_out}-call{k:02d}"
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


# ---------------------------------------------------------------------------------------------- report
def markdown(result: dict[str, Any]) -> str:
    lines = ["# Calls: call path vs eval", "", f"Command: `{result['command']}`", "",
             f"Machine: {result['machine']}. {result['design']}", "",
             "| held-out corpus | condition | scored | misses | split | call-path UAR | eval UAR (speaker) | diff | "
             "eval UAR (participant) | diff | agreement | mean max abs dp | analysis wall s | RTF |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for corpus in result["corpora"]:
        for condition in CONDITIONS:
            c = corpus["conditions"][condition]
            for subset, label in (("all", condition), ("single_emotion_customers", f"{condition}, single-emotion "
                                                                                     "customers")):
                r = c[subset]
                timing = (f"{c['wall_s']:.1f} | {c['rtf']:.3f}" if subset == "all" else " | ")
                lines.append(
                    f"| {corpus['corpus']} (`{corpus['model']['name']}:{corpus['model']['version']}`) | {label} | "
                    f"{r['scored']}/{r['utterances']} | {r['misses']} | {r['split_over_segments']} | "
                    f"{100 * r['call_uar']:.1f}% | {100 * r['eval_uar_speaker']:.1f}% | {r['diff_points']:+.1f} | "
                    f"{100 * r['eval_uar_participant']:.1f}% | {r['diff_points_participant']:+.1f} | "
                    f"{100 * r['top_label_agreement_participant']:.0f}% | "
                    f"{r['mean_max_abs_posterior_diff_participant']:.3f} | {timing} |")
    lines += ["", "diff = call-path UAR minus eval UAR, in points. scored = utterances at least one segment overlaps, of "
              "all; misses (no segment overlaps them) count as wrong; split = utterances scored from more than one "
              "segment. agreement and mean max abs dp: per scored utterance, call path vs eval with participant "
              "grouping, same top label / the largest absolute difference of a class posterior. Wall time: "
              "client-side, all calls of the condition, one at a time; RTF = wall time / audio duration.", ""]
    for corpus in result["corpora"]:
        m = corpus["model"]
        extra = (f"; UAR on all of {corpus['corpus']} under the runner: {100 * m['heldout_uar_all_clips']:.1f}%"
                 if "heldout_uar_all_clips" in m else "")
        lines.append(f"- {corpus['corpus']}: {corpus['calls']} calls, {corpus['audio_s']:.0f} s of audio per condition, "
                     f"{corpus['single_emotion_customers']} single-emotion customers ({corpus['customer_labels']}); "
                     f"eval path {corpus['eval_seconds']} s in total{extra}.")
    lines += ["", f"Stack start (`ser up`, 5 services + worker, models preloaded): {result['stack_up_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--held-out", nargs="+", default=["savee", "urdu"], choices=["savee", "urdu", "turevdb"])
    p.add_argument("--corpora", type=Path, default=Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" /
                                                                       "corpora")))
    p.add_argument("--work", type=Path, default=REPO / "artifacts" / "bench-calls",
                   help="bench registry, calls and stack state (SER_ARTIFACTS_DIR of the stack)")
    p.add_argument("--retrain", action="store_true", help="train loco-C even if the bench registry has it")
    p.add_argument("--redis-db", type=int, default=11, help="Redis database of the stack's Celery queues")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
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
    corpora_out: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for held_out in args.held_out:
        model = train_model(held_out, registry_root, cache, work / "experiments", args.retrain)
        from shared.corpora.labels import get_label_map
        from shared.registry import ModelRegistry

        card = ModelRegistry(registry_root).card(model["name"], model["version"])
        classes = list(card.labels)
        if list(get_label_map(card.label_map).classes) != classes:
            raise SystemExit(f"{model['name']}: card labels {classes} differ from its label map {card.label_map}")
        items = corpus_items(held_out, args.corpora, card.label_map)
        calls, truth = build_calls(held_out, items, classes, work / "calls" / held_out, args.seed)
        print(f"{held_out}: {len(calls)} calls, {len(truth)} utterances, "
              f"{sum(c['duration_s'] for c in calls):.0f} s per condition", flush=True)
        evals: dict[str, dict[str, Any]] = {}
        for condition in CONDITIONS:
            for grouping in GROUPINGS:
                csv_path = eval_manifest(work / "calls" / held_out / f"eval-{condition}-{grouping}.csv", held_out,
                                         truth, calls, condition, grouping)
                evals[f"{condition}/{grouping}"] = eval_path(model, csv_path, registry_root, cache,
                                                             work / "eval" / held_out / f"{condition}-{grouping}")
                print(f"{held_out} eval {condition}/{grouping}: UAR {evals[f'{condition}/{grouping}']['report_uar']:.4f}",
                      flush=True)
        state[held_out] = {"model": model, "classes": classes, "calls": calls, "truth": truth, "evals": evals}

    analyses: dict[str, dict[str, list[dict[str, Any]]]] = {}
    stack = Stack(work, args.redis_db)
    with stack as settings:
        for held_out, s in state.items():
            ref = f"{s['model']['name']}:{s['model']['version']}"
            analyses[held_out] = {c: analyse(s["calls"], c, settings, ref) for c in CONDITIONS}
            for condition, rows in analyses[held_out].items():  # the raw timelines, for a closer look
                (work / "calls" / held_out / f"analyses-{condition}.json").write_text(json.dumps(rows))

    for held_out, s in state.items():
        classes, calls, truth = s["classes"], s["calls"], s["truth"]
        single_calls = {c["call"] for c in calls if c["customer_single_emotion"]}
        conditions = {}
        for condition in CONDITIONS:
            call_p: dict = {}
            n_segments: dict = {}
            for a in analyses[held_out][condition]:
                p_call, n_call = call_posteriors(a["result"], [u for u in truth if u.call == a["call"]], classes)
                call_p.update(p_call)
                n_segments.update(n_call)
            eval_p = {}
            for grouping in GROUPINGS:
                ev = s["evals"][f"{condition}/{grouping}"]
                if ev["classes"] != classes:
                    raise SystemExit(f"eval classes {ev['classes']} differ from the card's {classes}")
                eval_p[grouping] = {(u.call, u.channel, u.start_ms): ev["posteriors"][eval_key(u, condition, calls)]
                                    for u in truth}
            subset = [u for u in truth if u.call in single_calls and u.channel == 1]
            wall = sum(a["wall_s"] for a in analyses[held_out][condition])
            audio = sum(c["duration_s"] for c in calls)
            conditions[condition] = {
                "all": compare(truth, call_p, n_segments, eval_p, classes),
                "single_emotion_customers": compare(subset, call_p, n_segments, eval_p, classes),
                "wall_s": round(wall, 1), "audio_s": round(audio, 1), "rtf": round(wall / audio, 4),
                "server_processing_s": round(sum(a["result"]["processing_s"] for a in analyses[held_out][condition]), 1),
                "segments": sum(len(a["result"]["timeline"]) for a in analyses[held_out][condition]),
                "eval_report_uar": {g: round(s["evals"][f"{condition}/{g}"]["report_uar"], 4) for g in GROUPINGS},
                "eval_seconds": {g: s["evals"][f"{condition}/{g}"]["seconds"] for g in GROUPINGS},
                "eval_skipped_files": {g: s["evals"][f"{condition}/{g}"]["skipped_files"] for g in GROUPINGS},
            }
            for g in GROUPINGS:  # our UAR over the eval posteriors must be the runner's own
                ours, runner = conditions[condition]["all"][f"eval_uar_{g}"], conditions[condition]["eval_report_uar"][g]
                if abs(ours - runner) > 1e-3:
                    raise SystemExit(f"{held_out} {condition}/{g}: recomputed eval UAR {ours} != the report's {runner}")
        labels = Counter(c["customer_single_emotion"] for c in calls if c["customer_single_emotion"])
        corpora_out.append({
            "corpus": held_out, "model": s["model"], "classes": classes, "calls": len(calls), "utterances": len(truth),
            "audio_s": round(sum(c["duration_s"] for c in calls), 1), "single_emotion_customers": len(single_calls),
            "customer_labels": ", ".join(f"{k} {v}" for k, v in sorted(labels.items())),
            "eval_seconds": round(sum(e["seconds"] for e in s["evals"].values()), 1),
            "speakers": sorted({u.speaker for u in truth}), "conditions": conditions,
            "call_list": [{k: v for k, v in c.items() if k not in ("clean", "telephone")} for c in calls]})

    result = {
        "command": "SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_calls.py "
                   + " ".join(["--held-out", *args.held_out] + (["--retrain"] if args.retrain else [])),
        "machine": MACHINE, "platform": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "design": (f"{CALLS} stereo calls per held-out corpus, {TURNS} alternating turns (agent ch 0, customer ch 1), "
                   f"{GAP_S[0]}-{GAP_S[1]} s gaps, each turn a whole corpus file; telephone = 8 kHz G.711 mu-law WAV, "
                   "300-3400 Hz. Eval = `ser eval` (evaluate-only runner) of the same model on the same utterances; "
                   "'speaker' groups per-speaker statistics by corpus speaker over all of the corpus's calls, "
                   "'participant' by call channel (the call path's grouping)."),
        "stack_up_s": round(stack.up_seconds, 1), "stack_up_output": stack.up_output, "corpora": corpora_out,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calls.json").write_text(json.dumps(result, indent=2))
    (args.out / "calls.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
