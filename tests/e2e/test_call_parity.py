"""Parity: an utterance scored inside a call gets the posteriors the experiment (eval) path gives it.

Two synthetic speakers' utterances form a tiny SAVEE-layout corpus. A small ``utterance_mlp``
(eGeMAPS + GE2E, per-speaker statistics, as the shipped default) is trained through the experiment
runner (``cross_corpus``: on two other synthetic speakers in TESS's layout, tested on the SAVEE one)
and published to a temporary registry. The SAVEE utterances are then scored

(a) by the eval path: ``ExperimentRun(evaluate_only=True)`` and its ``run_split`` on the registered
    model, i.e. the runner's own audio store, input builder, speaker side and ``Trainer.predict``;
(b) by the call path: a stereo call (speaker one on channel 0, speaker two on channel 1, alternating
    turns, each turn one whole corpus file) analysed by AnalyzeUpload through the in-process stack
    (``services.cli.local_stack``: preprocess -> inference -> gateway, the servers ``ser up`` runs);
    an utterance's posterior is the overlap-weighted mean of its channel's segments overlapping it.

Each call channel holds exactly one speaker's utterances, so the per-channel statistics of the call
are over the same utterances as the eval path's per-speaker statistics. The test asserts top labels
agree on at least 95% of utterances and every posterior is within 0.05.

The synthetic voices of tests/synthetic.py and tests/contract/voices.py are steady harmonic tones
that silero VAD does not take for speech (no segment at all), so a call of them would have an empty
timeline. The voices here are syllabic: vowel formants that change every syllable, consonant-like
noise bursts between syllables, a falling, wobbling pitch; ``test_utterances_are_speech`` checks
that the VAD finds each one as one segment before the parity test relies on it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

pytestmark = pytest.mark.slow

RATE = 16000
CODES = {"angry": "a", "happy": "h", "neutral": "n", "sad": "sa"}
# speaker -> (f0 Hz, formant scale): the call's two speakers (SAVEE layout), the training speakers (TESS layout)
SPEAKERS = {"DC": (115.0, 1.0), "JE": (185.0, 1.12)}
TRAIN_SPEAKERS = {"OAF": (130.0, 1.04), "YAF": (170.0, 1.08)}
VOICES = {**SPEAKERS, **TRAIN_SPEAKERS}
PER_CLASS = 3
TRAIN_WORDS = ("back", "bar", "base", "bath")
LEAD_S = 0.3  # silence before and after the speech in every corpus file, as real corpus files have
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410),
          (660, 1720, 2410))
# emotion -> (f0 factor, syllables per s, pitch excursion, peak level, breath noise)
STYLE = {"angry": (1.35, 5.5, 0.20, 0.55, 0.01), "happy": (1.25, 4.5, 0.30, 0.35, 0.01),
         "neutral": (1.0, 4.0, 0.05, 0.25, 0.01), "sad": (0.85, 3.2, 0.03, 0.12, 0.03)}
MIN_AGREEMENT = 0.95
MAX_POSTERIOR_DIFF = 0.05


def _resonator(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    r = np.exp(-np.pi * bandwidth / RATE)
    theta = 2 * np.pi * freq / RATE
    return lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def speech(label: str, speaker: str, seed: int) -> np.ndarray:
    """One synthetic utterance (1.2-1.8 s of syllables) with LEAD_S of near-silence either side."""
    rng = np.random.default_rng(seed)
    f0, scale = VOICES[speaker]
    factor, rate, excursion, peak, breath = STYLE[label]
    seconds = float(rng.uniform(1.2, 1.8))
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    pitch = f0 * factor * (1 + excursion * np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6.28))) * (1 - 0.1 * t / seconds)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    source = sum(np.sin(k * phase) / k for k in range(1, 40)) + breath * 30 * rng.standard_normal(n)
    out = np.zeros(n)
    edges = np.linspace(0, n, max(1, int(seconds * rate)) + 1).astype(int)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        f1, f2, f3 = (scale * f for f in VOWELS[rng.integers(len(VOWELS))])
        segment = _resonator(source[a:b], f1, 80) + 0.7 * _resonator(source[a:b], f2, 100) \
            + 0.4 * _resonator(source[a:b], f3, 150)
        length = b - a
        envelope = np.sin(np.pi * np.arange(length) / length) ** 0.7
        onset = int(0.25 * length)
        envelope[:onset] *= 0.05
        burst = lfilter([1, -0.95], [1], rng.standard_normal(onset)) * np.hanning(onset)
        segment[:onset] += burst * 3 * np.std(segment)
        out[a:b] = segment * envelope
    out = peak * out / np.max(np.abs(out))
    lead = np.zeros(int(LEAD_S * RATE))
    x = np.concatenate([lead, out, lead])
    return (x + 3e-4 * rng.standard_normal(len(x))).astype(np.float32)


def write_tess(root: Path) -> Path:
    """The training speakers in TESS's layout (``OAF_angry/OAF_back_angry.wav``)."""
    for s, speaker in enumerate(TRAIN_SPEAKERS):
        for c, label in enumerate(CODES):
            for k, word in enumerate(TRAIN_WORDS):
                path = root / f"{speaker}_{label}" / f"{speaker}_{word}_{label}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, speech(label, speaker, seed=50_000 + 1000 * s + 100 * c + k), RATE, subtype="PCM_16")
    return root


@dataclasses.dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str
    label: str
    channel: int = 0
    start_ms: int = 0
    end_ms: int = 0


def write_corpus(root: Path) -> list[Utterance]:
    """SAVEE's flat layout (``DC_a01.wav``), 16-bit PCM like the real files."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for s, speaker in enumerate(SPEAKERS):
        for c, (label, code) in enumerate(CODES.items()):
            for k in range(1, PER_CLASS + 1):
                path = root / f"{speaker}_{code}{k:02d}.wav"
                sf.write(path, speech(label, speaker, seed=1000 * s + 100 * c + k), RATE, subtype="PCM_16")
                out.append(Utterance(path, speaker, label))
    return out


def write_call(path: Path, utterances: list[Utterance], seed: int = 0) -> list[Utterance]:
    """Speaker one on channel 0, speaker two on channel 1, turns alternating; returns where each one went."""
    rng = np.random.default_rng(seed)
    speakers = list(SPEAKERS)
    queues = [[u for u in utterances if u.speaker == s] for s in speakers]
    turns = [queue[k] for k in range(max(map(len, queues))) for queue in queues if k < len(queue)]
    placed, t_ms = [], 500
    clips = []
    for u in turns:
        x, rate = sf.read(u.path, dtype="float32")
        assert rate == RATE
        channel = speakers.index(u.speaker)
        end_ms = t_ms + -(-len(x) * 1000 // RATE)
        placed.append(dataclasses.replace(u, channel=channel, start_ms=t_ms, end_ms=end_ms))
        clips.append(x)
        t_ms = end_ms + int(rng.integers(200, 500))
    stereo = np.zeros(((t_ms + 300) * RATE // 1000, 2), dtype=np.float32)
    stereo += (3e-4 * rng.standard_normal(stereo.shape)).astype(np.float32)
    for u, x in zip(placed, clips, strict=True):
        a = u.start_ms * RATE // 1000
        stereo[a : a + len(x), u.channel] = x
    sf.write(path, stereo, RATE, subtype="PCM_16")
    return placed


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Utterance]]:
    """(folder holding SAVEE/ and TESS/, the SAVEE utterances)."""
    root = tmp_path_factory.mktemp("parity")
    write_tess(root / "TESS")
    return root, write_corpus(root / "SAVEE")


def test_utterances_are_speech(corpus: tuple[Path, list[Utterance]]) -> None:
    from shared.audio.vad import SileroVad, VadConfig

    vad = SileroVad(device="cpu")
    root, utterances = corpus
    call_files = {u.path for u in utterances}
    for path in sorted(call_files) + sorted((root / "TESS").rglob("*.wav")):
        x, _ = sf.read(path, dtype="float32")
        spans = vad.segments(x, RATE, VadConfig())
        speech_ms = 1000 * len(x) / RATE - 2000 * LEAD_S
        # a call utterance must be one segment: split in two, the call would score it from two segments
        assert spans and (len(spans) == 1 or path not in call_files), f"{path.name}: VAD segments {spans}"
        covered = sum(max(0.0, min(b, 1000 * LEAD_S + speech_ms) - max(a, 1000 * LEAD_S)) for a, b in spans)
        assert covered >= 0.8 * speech_ms, f"{path.name}: VAD found {spans} for speech of {speech_ms:.0f} ms"


def _spec(root: Path, **extra: Any) -> Any:
    from shared.experiments.spec import load_spec

    return load_spec({
        "name": "call-parity", "corpora": [{"name": "tess", "root": str(root / "TESS")},
                                           {"name": "savee", "root": str(root / "SAVEE")}],
        "missing_corpora": "error", "label_map": "4class",
        "protocol": {"kind": "cross_corpus", "params": {"train": ["tess"], "test": ["savee"]}},
        "inputs": {"utterance": {"feature_set": "egemaps", "trim": "vad_call", "edge_stable": True}},
        "model": {"architecture": "utterance_mlp", "overrides": {"view": "both", "shrink": 16.0}},
        "speaker": {"encoder": "ge2e"}, "normalization": "per_speaker", "tsne": False, "seed": 0,
        "training": {"optimizer": "adamw", "lr": 0.01, "batch_size": 8, "max_epochs": 25, "label_smoothing": 0.1,
                     "early_stopping_patience": None, "amp": False, "num_threads": 1},
        **extra})


def _eval_posteriors(root: Path, registry: Path, ref: str, cache: Path, out: Path
                     ) -> tuple[list[str], dict[str, np.ndarray]]:
    """The eval path's per-utterance posteriors: the runner's own split, parts and Trainer.predict
    (``ser eval``: protocol test_only, one split whose test part is every SAVEE utterance)."""
    from shared.experiments.data import load_manifest, make_splits
    from shared.experiments.runner import ExperimentRun
    from shared.experiments.spec import load_spec
    from shared.features.windowing import pool_by_source
    from shared.training.loop import Trainer

    spec = load_spec({"name": "call-parity eval", "corpora": [{"name": "savee", "root": str(root / "SAVEE")}],
                      "missing_corpora": "error", "protocol": {"kind": "test_only"}, "evaluate_model": ref,
                      "tsne": False})  # what `ser eval` runs: model, inputs, labels, normalisation from the card
    run = ExperimentRun(spec, out, registry_root=registry, evaluate_only=True, feature_cache=cache)
    splits = make_splits(run.spec, load_manifest(run.spec).manifest)
    assert len(splits) == 1
    fold, _, test = run.run_split(0, 1, splits[0])
    probs, _ = Trainer(run.model, run.train_config, device="cpu").predict(run._batches(test), embeddings=False)
    clip_probs = pool_by_source(probs, test.inputs.source, test.inputs.num_clips)
    # the fold's metrics were computed from these same posteriors
    assert np.isclose(np.mean(clip_probs.argmax(1) == test.clip_labels), fold.metrics.accuracy)
    assert sorted(run.classes) == sorted(CODES)
    return list(run.classes), {Path(item.path).name: clip_probs[n] for n, item in enumerate(test.manifest)}


def _call_posteriors(result: dict[str, Any], placed: list[Utterance], classes: list[str]
                     ) -> dict[str, tuple[np.ndarray | None, list[str]]]:
    """Per utterance: overlap-weighted posterior of its channel's segments, and those segments' spans (ms)."""
    out = {}
    for u in placed:
        total, weighted, spans = 0, np.zeros(len(classes)), []
        for entry in result["timeline"]:
            segment = entry["segment"]
            overlap = min(segment["end_ms"], u.end_ms) - max(segment["start_ms"], u.start_ms)
            if segment["channel"] == u.channel and overlap > 0:
                probs = dict(zip(entry["emotion"]["labels"], entry["emotion"]["probs"], strict=True))
                weighted += overlap * np.asarray([probs[c] for c in classes])
                total += overlap
                spans.append(f"{segment['start_ms']}-{segment['end_ms']}")
        out[u.path.name] = (weighted / total if total else None, spans)
    return out


def test_call_path_matches_eval_path(corpus: tuple[Path, list[Utterance]], tmp_path: Path) -> None:
    from services.cli.analyze import analyze_file
    from services.cli.local_stack import local_stack
    from shared.experiments.runner import run_experiment
    from shared.settings import Settings

    root, utterances = corpus
    registry, cache = tmp_path / "registry", tmp_path / "cache"
    trained = run_experiment(_spec(root, publish={"name": "parity", "promote": "default"}), tmp_path / "train",
                             registry_root=registry, feature_cache=cache)
    assert trained.model_ref is not None
    ref = f"{trained.model_ref[0]}:{trained.model_ref[1]}"
    classes, offline = _eval_posteriors(root, registry, ref, cache, tmp_path / "eval")
    assert sorted(offline) == sorted(u.path.name for u in utterances)

    placed = write_call(tmp_path / "call.wav", utterances)
    settings = dataclasses.replace(Settings.from_env({}), artifacts_dir=tmp_path / "artifacts")
    with local_stack(settings, registry_root=registry) as local:
        result = analyze_file(tmp_path / "call.wav", local, model=ref)
    assert result["model"]["name"] == "parity"
    online = _call_posteriors(result, placed, classes)

    rows, misses, agree, worst = [], [], 0, 0.0
    for u in placed:
        call_p, spans = online[u.path.name]
        eval_p = offline[u.path.name]
        if call_p is None:
            misses.append(u.path.name)
            continue
        diff = float(np.abs(call_p - eval_p).max())
        worst = max(worst, diff)
        agree += classes[int(call_p.argmax())] == classes[int(eval_p.argmax())]
        rows.append(f"{u.path.name} ch{u.channel} at {u.start_ms}-{u.end_ms} ms (speech from +{int(1000 * LEAD_S)} ms), "
                    f"segment(s) {', '.join(spans)}: "
                    f"call {np.round(call_p, 3).tolist()} eval {np.round(eval_p, 3).tolist()} max diff {diff:.3f}")
    detail = "\n".join(rows)
    assert not misses, f"no segment overlaps {misses}\n{detail}"
    assert agree / len(placed) >= MIN_AGREEMENT, f"top labels agree on {agree}/{len(placed)}\n{detail}"
    assert worst <= MAX_POSTERIOR_DIFF, f"largest posterior difference {worst:.3f}\n{detail}"
