"""Mono calls: diarization error rate and per-participant emotion UAR through the real call path.

    SER_CORPORA=../shared/corpora PYTHONPATH=.:protos .venv/bin/python tests/bench/bench_diarization.py [--pairs N]

1. **Mixes.** For each speaker pair (RAVDESS, SAVEE, TESS, TurEV-DB; same- and cross-gender), one mono
   conversation: 8 alternating turns of 3 utterances (each utterance VAD-trimmed to its speech, so the
   truth is speech, levelled to -26 dBFS RMS with a fixed +-2 dB per speaker), 0.15-0.35 s between
   utterances, and every other speaker change (more where half an utterance caps them) an overlap sized
   to put 10 % of the speech time in overlap (``shared.diarization.mixes``), the rest 0.3-0.8 s pauses. Only utterances whose label the
   model knows are used. Clean, and the whole mix through ``shared.features.augment.telephone`` (8 kHz,
   300-3400 Hz, 8-bit mu-law, back to 16 kHz), as bench_telephone.py does. The default (8 pairs, 2 x 8
   calls plus every utterance alone) takes about 2.5 min on 2 shared cores.
2. **Call path.** The in-process stack (``services.cli.local_stack``: preprocess, speaker, inference,
   gateway on ephemeral ports; the bundled registry), each mix uploaded as ``ser analyze`` does
   (AnalyzeUpload from disk) with the default options (auto mode: one channel -> diarized, speaker count
   estimated), and again with ``num_speakers=2``; and speaker A's first 6 utterances alone (auto mode), to see
   whether one voice is counted as one.
3. **DER** with pyannote.metrics ``DiarizationErrorRate(collar=0.25)`` (overlap scored, not skipped):
   reference = the placed utterances, hypothesis = the timeline (an overlap entry counts for both
   participants it names). Summed over mixes (total error / total reference time), and per mix.
4. **Emotion UAR.** Each utterance's posterior is the duration-weighted mean over the timeline entries of
   its participant (truth speaker -> participant by the best overlap mapping) that overlap it; overlap
   entries are left out; an utterance no entry covers is a miss and counts as wrong. Compared with the same
   utterances *alone*: each uploaded as its own one-utterance call (``call_mode=CALL_MODE_CHANNELS``),
   through the same channel. Per participant: agent = whoever speaks first.

Results: tests/bench/results/diarization.json and .md. Mixes stay under WORK (default
artifacts/bench-diarization, git-ignored); nothing derived from the corpora is committed.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "protos"))

RESULTS = REPO / "tests" / "bench" / "results"
CONDITIONS = ("clean", "telephone")
PAIRS = [  # (corpus, folder, speaker A, speaker B, genders)
    ("ravdess", "RAVDESS", "01", "02", "M/F"),
    ("savee", "SAVEE", "DC", "JE", "M/M"),
    ("tess", "TESS", "OAF", "YAF", "F/F"),
    ("ravdess", "RAVDESS", "05", "07", "M/M"),
    ("ravdess", "RAVDESS", "08", "10", "F/F"),
    ("savee", "SAVEE", "JK", "KL", "M/M"),
    ("ravdess", "RAVDESS", "03", "06", "M/F"),
    ("turevdb", "TurEV-DB", "1157", "1234", "?"),
]
TURNS, PER_TURN = 8, 3
MODEL = "default"


def utterances(corpus: str, root: Path, speaker: str, classes: list[str], label_map: str, n: int, seed: int,
               vad: Any) -> list[Any]:
    """``n`` of the speaker's utterances with a label the model knows, VAD-trimmed, classes balanced in turn."""
    from shared.audio.decode import decode
    from shared.corpora.labels import get_label_map
    from shared.corpora.registry import load_corpus
    from shared.diarization.mixes import Utterance
    from shared.features.utterance import vad_trim

    mapping = get_label_map(label_map)
    items = [i for i in load_corpus(corpus, root).items if i.speaker == speaker]
    by_label: dict[str, list[Any]] = {}
    for item in items:
        label = mapping.map_label(item.label)
        if label in classes:
            by_label.setdefault(label, []).append(item)
    rng = np.random.default_rng(seed)
    for pool in by_label.values():
        rng.shuffle(pool)
    picked = []
    for label in itertools.cycle(sorted(by_label)):
        if len(picked) == n or not any(by_label.values()):
            break
        if by_label[label]:
            item = by_label[label].pop()
            clip = vad_trim(decode(item.path).samples[0], vad)
            picked.append(Utterance(speaker, clip, label, str(item.path.relative_to(root))))
    rng.shuffle(picked)
    if len(picked) < n:
        raise SystemExit(f"{corpus}/{speaker}: only {len(picked)} usable utterances, {n} needed")
    return picked


def build(pairs: list[tuple], corpora: Path, classes: list[str], label_map: str, work: Path) -> list[dict[str, Any]]:
    import soundfile as sf

    from shared.audio.vad import SileroVad
    from shared.diarization.mixes import build_mix, overlapped_ms
    from shared.features.augment import telephone

    vad = SileroVad(device="cpu")
    calls = []
    for n, (corpus, folder, a, b, genders) in enumerate(pairs):
        per = TURNS // 2 * PER_TURN
        ua = utterances(corpus, corpora / folder, a, classes, label_map, per, 10 * n, vad)
        ub = utterances(corpus, corpora / folder, b, classes, label_map, per, 10 * n + 1, vad)
        turns = [(ua if t % 2 == 0 else ub)[(t // 2) * PER_TURN : (t // 2 + 1) * PER_TURN] for t in range(TURNS)]
        mix = build_mix(turns, overlap_ratio=0.10, seed=n, speaker_offsets_db={a: 2.0, b: -2.0})
        alone_mix = build_mix([ua[: 2 * PER_TURN]], overlap_ratio=0.0, seed=n)  # speaker A alone, 2 turns' worth
        over, speech = overlapped_ms(mix.truth)
        call = {"call": f"{corpus}-{a}-{b}", "corpus": corpus, "speakers": [a, b], "genders": genders,
                "duration_s": mix.duration_ms / 1000, "speech_s": speech / 1000, "overlap_share": over / speech,
                "truth": [dataclasses.asdict(p) for p in mix.truth]}
        for condition in CONDITIONS:
            x = mix.samples if condition == "clean" else telephone(mix.samples, 16000).astype(np.float32)
            path = work / condition / f"{call['call']}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x, 16000, subtype="PCM_16")
            call[condition] = str(path)
            one = alone_mix.samples if condition == "clean" else telephone(alone_mix.samples, 16000).astype(np.float32)
            sf.write(work / condition / f"{call['call']}-one-speaker.wav", one, 16000, subtype="PCM_16")
            call[f"{condition}_one_speaker"] = str(work / condition / f"{call['call']}-one-speaker.wav")
            alone = []
            for i, u in enumerate(u for turn in turns for u in turn):  # the order of mix.truth
                clip = u.samples
                clip = clip if condition == "clean" else telephone(clip, 16000).astype(np.float32)
                upath = work / condition / call["call"] / f"{i:02d}.wav"
                upath.parent.mkdir(parents=True, exist_ok=True)
                sf.write(upath, clip, 16000, subtype="PCM_16")
                alone.append(str(upath))
            call[f"{condition}_alone"] = alone
        print(f"  {call['call']}: {call['duration_s']:.1f} s, overlap {100 * call['overlap_share']:.1f} % of speech",
              flush=True)
        calls.append(call)
    return calls


def hypothesis(result: Any) -> list[tuple[int, int, list[str]]]:
    return [(e.segment.start_ms, e.segment.end_ms, list(e.overlap_participants) if e.overlap else [e.participant])
            for e in result.timeline]


def reference(call: dict[str, Any]) -> list[tuple[int, int, list[str]]]:
    return [(p["start_ms"], p["end_ms"], [p["speaker"]]) for p in call["truth"]]


def overlap_right_ms(call: dict[str, Any], result: Any) -> int:
    """Milliseconds marked overlap that truly hold two voices."""
    end = max([p["end_ms"] for p in call["truth"]] + [e.segment.end_ms for e in result.timeline])
    count = np.zeros(end + 1, dtype=np.int32)
    for p in call["truth"]:
        count[p["start_ms"] : p["end_ms"]] += 1
    return int(sum((count[e.segment.start_ms : e.segment.end_ms] > 1).sum() for e in result.timeline if e.overlap))


def best_mapping(call: dict[str, Any], result: Any) -> dict[str, str]:
    """Truth speaker -> participant, maximising the overlapping time (non-overlap entries only)."""
    names = sorted({e.participant for e in result.timeline if not e.overlap})
    speakers = call["speakers"]
    held = {(s, p): 0 for s in speakers for p in names}
    for u in call["truth"]:
        for e in result.timeline:
            if not e.overlap:
                held[(u["speaker"], e.participant)] += max(0, min(u["end_ms"], e.segment.end_ms) -
                                                           max(u["start_ms"], e.segment.start_ms))
    best: dict[str, str] = {}
    score = -1
    for perm in itertools.permutations(names + [""] * len(speakers), len(speakers)):
        total = sum(held.get((s, p), 0) for s, p in zip(speakers, perm, strict=True))
        if total > score:
            best, score = dict(zip(speakers, perm, strict=True)), total
    return best


def mix_posteriors(call: dict[str, Any], result: Any, classes: list[str]) -> list[np.ndarray | None]:
    mapping = best_mapping(call, result)
    out = []
    for u in call["truth"]:
        weighted, total = np.zeros(len(classes)), 0
        for e in result.timeline:
            if e.overlap or e.participant != mapping.get(u["speaker"]):
                continue
            overlap = min(u["end_ms"], e.segment.end_ms) - max(u["start_ms"], e.segment.start_ms)
            if overlap > 0:
                probs = dict(zip(e.emotion.labels, e.emotion.probs, strict=True))
                weighted += overlap * np.asarray([probs[c] for c in classes])
                total += overlap
        out.append(weighted / total if total else None)
    return out


def alone_posterior(result: Any, classes: list[str]) -> np.ndarray | None:
    weighted, total = np.zeros(len(classes)), 0
    for e in result.timeline:
        probs = dict(zip(e.emotion.labels, e.emotion.probs, strict=True))
        d = e.segment.end_ms - e.segment.start_ms
        weighted += d * np.asarray([probs[c] for c in classes])
        total += d
    return weighted / total if total else None


def uar(truth: list[str], posteriors: list[np.ndarray | None], classes: list[str]) -> float:
    """Mean recall over the classes present in ``truth``; a missing posterior is wrong."""
    predicted = [None if p is None else classes[int(np.argmax(p))] for p in posteriors]
    recalls = [np.mean([predicted[i] == c for i, t in enumerate(truth) if t == c]) for c in classes if c in truth]
    return float(np.mean(recalls)) if recalls else float("nan")


def analyse(calls: list[dict[str, Any]], settings: Any, classes: list[str]) -> dict[str, Any]:
    from ser.v1 import analysis_pb2_grpc

    from services.cli.local_stack import local_stack
    from services.common.client import channel
    from services.jobs.analyze_client import analyze_options, analyze_path
    from shared.diarization.scoring import der

    out: dict[str, Any] = {c: {"calls": [], "timing": {}} for c in CONDITIONS}
    with local_stack(settings) as stack, channel(stack.address("gateway"), stack) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        for condition in CONDITIONS:
            mix_s = alone_s = 0.0
            for call in calls:
                row: dict[str, Any] = {"call": call["call"]}
                for name, options in (("estimated", {}), ("given", {"num_speakers": 2})):
                    started = time.perf_counter()
                    result = analyze_path(stub, Path(call[condition]), analyze_options(options, MODEL), timeout_s=900)
                    mix_s += time.perf_counter() - started
                    scored = der(reference(call), hypothesis(result))
                    row[name] = {**scored, "participants": [p.participant for p in result.participants],
                                 "overlap_marked_s": result.silence.overlap_ms / 1000,
                                 "overlap_right_s": overlap_right_ms(call, result) / 1000}
                    if name == "estimated":
                        row["mix_posteriors"] = mix_posteriors(call, result, classes)
                one = analyze_path(stub, Path(call[f"{condition}_one_speaker"]), analyze_options({}, MODEL),
                                   timeout_s=300)
                row["one_speaker_found"] = len(one.participants)
                started = time.perf_counter()
                row["alone_posteriors"] = [
                    alone_posterior(analyze_path(stub, Path(p), analyze_options({"call_mode": "CALL_MODE_CHANNELS"},
                                                                               MODEL), timeout_s=300), classes)
                    for p in call[f"{condition}_alone"]]
                alone_s += time.perf_counter() - started
                print(f"  {condition} {call['call']}: DER {100 * row['estimated']['der']:.1f} % "
                      f"({len(row['estimated']['participants'])} speakers) / given 2: {100 * row['given']['der']:.1f} %",
                      flush=True)
                out[condition]["calls"].append(row)
            out[condition]["timing"] = {"mixes_s": mix_s, "alone_s": alone_s}
    return out


def summarise(calls: list[dict[str, Any]], analysed: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for condition in CONDITIONS:
        rows = analysed[condition]["calls"]
        s: dict[str, Any] = {}
        for name in ("estimated", "given"):
            parts = {k: sum(r[name][k] for r in rows) for k in ("total_s", "missed_s", "false_alarm_s", "confusion_s")}
            s[name] = {**parts, "der": (parts["missed_s"] + parts["false_alarm_s"] + parts["confusion_s"])
                       / parts["total_s"], "speakers_right": sum(len(r[name]["participants"]) == 2 for r in rows),
                       "overlap_marked_s": sum(r[name]["overlap_marked_s"] for r in rows),
                       "overlap_right_s": sum(r[name]["overlap_right_s"] for r in rows),
                       "overlap_true_s": sum(c["speech_s"] * c["overlap_share"] for c in calls)}
        s["one_speaker_found"] = [r["one_speaker_found"] for r in rows]
        for role, index in (("agent", 0), ("customer", 1), ("both", None)):
            truth, mixed, alone = [], [], []
            for call, r in zip(calls, rows, strict=True):
                first = call["truth"][0]["speaker"]
                for i, u in enumerate(call["truth"]):
                    is_agent = u["speaker"] == first
                    if index is None or is_agent == (index == 0):
                        truth.append(u["label"])
                        mixed.append(r["mix_posteriors"][i])
                        alone.append(r["alone_posteriors"][i])
            s[f"uar_{role}"] = {"mix": uar(truth, mixed, classes), "alone": uar(truth, alone, classes),
                                "utterances": len(truth), "missed_in_mix": sum(p is None for p in mixed)}
        summary[condition] = s
    return summary


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Diarization of mono calls", "",
             f"Machine: {result['machine']}. Model: {result['model']} ({result['labels']}). Command: "
             f"`{result['command']}`; {result['wall_s']:.0f} s wall.", "",
             f"{len(result['calls'])} two-speaker mixes, {TURNS} turns of {PER_TURN} utterances, overlap "
             f"{100 * np.mean([c['overlap_share'] for c in result['calls']]):.1f} % of speech time on average "
             f"(every other speaker change, more where needed), {sum(c['duration_s'] for c in result['calls']):.0f} s of audio per "
             "condition. DER: pyannote.metrics DiarizationErrorRate(collar=0.25), overlap scored; totals over all "
             "mixes. Goals: DER <= 10 % clean, <= 15 % telephone.", "",
             "| condition | speakers | DER | missed | false alarm | confusion | count right | overlap marked (right) / true |",
             "|---|---|---|---|---|---|---|---|"]
    for condition in CONDITIONS:
        for name, label in (("estimated", "estimated (auto)"), ("given", "given (2)")):
            s = result["summary"][condition][name]
            t = s["total_s"]
            lines.append(f"| {condition} | {label} | {100 * s['der']:.1f} % | {100 * s['missed_s'] / t:.1f} % | "
                         f"{100 * s['false_alarm_s'] / t:.1f} % | {100 * s['confusion_s'] / t:.1f} % | "
                         f"{s['speakers_right']}/{len(result['calls'])} | {s['overlap_marked_s']:.1f} s "
                         f"({s['overlap_right_s']:.1f} s) / {s['overlap_true_s']:.1f} s |")
    lines += ["", "Speaker count of one speaker alone (speaker A's first 6 utterances, auto mode): found "
              + "; ".join(f"{c} {result['summary'][c]['one_speaker_found']}" for c in CONDITIONS) + "."]
    lines += ["", "Emotion UAR per participant (agent = first speaker): the mix through the call path (auto mode) vs "
              "the same utterances each analysed alone.", "",
              "| condition | participant | UAR in the mix | UAR alone | utterances | missed in mix |", "|---|---|---|---|---|---|"]
    for condition in CONDITIONS:
        for role in ("agent", "customer", "both"):
            u = result["summary"][condition][f"uar_{role}"]
            lines.append(f"| {condition} | {role} | {100 * u['mix']:.1f} % | {100 * u['alone']:.1f} % | "
                         f"{u['utterances']} | {u['missed_in_mix']} |")
    lines += ["", "Per mix (DER with the count estimated / given):", "",
              "| mix | genders | s | overlap | clean | telephone |", "|---|---|---|---|---|---|"]
    for i, call in enumerate(result["calls"]):
        cells = []
        for condition in CONDITIONS:
            r = result["analysed"][condition]["calls"][i]
            cells.append(f"{100 * r['estimated']['der']:.1f} % ({len(r['estimated']['participants'])} spk) / "
                         f"{100 * r['given']['der']:.1f} %")
        lines.append(f"| {call['call']} | {call['genders']} | {call['duration_s']:.0f} | "
                     f"{100 * call['overlap_share']:.1f} % | {cells[0]} | {cells[1]} |")
    lines += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [round(float(v), 4) for v in x]
    if isinstance(x, np.floating | np.integer):
        return x.item()
    return x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path,
                        default=Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" / "corpora")))
    parser.add_argument("--work", type=Path, default=REPO / "artifacts" / "bench-diarization")
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help=f"speaker pairs, 1..{len(PAIRS)} (default all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not 1 <= args.pairs <= len(PAIRS):
        raise SystemExit(f"--pairs must be 1..{len(PAIRS)}")
    from shared.registry import ModelRegistry
    from shared.registry.bundled import seed_registry
    from shared.runtime import limit_threads
    from shared.settings import Settings

    limit_threads(1)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    settings = dataclasses.replace(Settings.from_env(), artifacts_dir=args.work, grpc_workers=8, log_json=False)
    seed_registry(args.work / "registry")
    card = ModelRegistry(args.work / "registry").card(MODEL, "default")
    classes = list(card.labels)
    print(f"building {args.pairs} mixes from {args.corpora}", flush=True)
    calls = build(PAIRS[: args.pairs], args.corpora, classes, card.label_map, args.work / "mixes")
    print("analysing through the call path", flush=True)
    analysed = analyse(calls, settings, classes)
    result = {
        "command": f"SER_CORPORA={args.corpora} python tests/bench/bench_diarization.py --pairs {args.pairs}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other work (load average "
                   f"{load:.1f} at the start), Python {platform.python_version()}",
        "model": f"{MODEL}:{card.version} ({card.architecture})", "labels": ", ".join(classes),
        "calls": [{k: v for k, v in c.items() if not k.startswith(CONDITIONS)} for c in calls],
        "analysed": analysed, "summary": summarise(calls, analysed, classes),
        "notes": [
            f"the model ({MODEL}:{card.version}, protocol {card.protocol}) was fitted on all five corpora, these "
            "utterances included: its UAR here is a fit check; what the mix costs is the gap between the two columns",
            "an overlap entry names both participants and counts for both in the DER hypothesis; it is left out of "
            "the per-participant UAR, as it is of the participant summaries",
            "DER includes the VAD's misses and false alarms (preprocess's silero-vad, default settings)",
        ],
    }
    result["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diarization.json").write_text(json.dumps(jsonable(result), indent=1) + "\n")
    (args.out / "diarization.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
