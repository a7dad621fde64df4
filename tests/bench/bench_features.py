"""Features benchmark: log-mel throughput vs plain librosa, KAZE+BOVW, eGeMAPS, speaker embeddings.

Run: ``.venv/bin/python tests/bench/bench_features.py [--clips N]``. Reads real clips from
``$SER_CORPORA`` (default ``../shared/corpora`` beside the repo) when present, otherwise makes
synthetic ones. Writes ``tests/bench/results/features.json`` and ``features.md``.
Both sides run single-threaded (torch 1 thread, BLAS/OpenMP 1 thread) so the comparison is fair.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from shared.features.bovw import fit_vocabulary, kaze_descriptors  # noqa: E402
from shared.features.config import LogMelConfig, preset  # noqa: E402
from shared.features.egemaps import FunctionalsExtractor  # noqa: E402
from shared.features.image import to_image_uint8  # noqa: E402
from shared.features.logmel import LogMelFrontEnd  # noqa: E402
from shared.speaker.encoder import Ge2eEncoder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "tests" / "bench" / "results"
SR = 16000


def load_clips(n: int, seed: int) -> tuple[list[np.ndarray], str]:
    root = Path(os.environ.get("SER_CORPORA", str(REPO.parent / "shared" / "corpora")))
    files = sorted(root.rglob("*.flac")) if root.is_dir() else []
    if files:
        import soundfile as sf

        rng = np.random.default_rng(seed)
        chosen = [files[i] for i in sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))]
        clips = []
        for f in chosen:
            x, sr = sf.read(f, dtype="float32")
            if sr != SR:
                raise SystemExit(f"{f} is {sr} Hz; the corpora copy is expected at 16 kHz")
            clips.append(x if x.ndim == 1 else x.mean(axis=1))
        corpora = sorted({f.relative_to(root).parts[0] for f in chosen})
        return clips, f"real: {len(clips)} clips from {', '.join(corpora)} ({root})"
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        seconds = rng.uniform(1.5, 5.0)
        t = np.arange(int(seconds * SR)) / SR
        f0 = rng.uniform(90, 250)
        x = sum(np.sin(2 * np.pi * k * f0 * t * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))) / k for k in range(1, 20))
        clips.append((0.1 * x / np.abs(x).max() + 0.003 * rng.standard_normal(len(t))).astype(np.float32))
    return clips, f"synthetic: {n} harmonic clips (no corpora at {root})"


def best_of(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each contender, run interleaved so load from other processes hits all alike."""
    for fn in contenders.values():
        fn()  # warm-up (allocations, lazy imports, numba JIT)
    best = {name: float("inf") for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def librosa_logmel(clips: list[np.ndarray], c: LogMelConfig) -> list[np.ndarray]:
    import librosa

    out = []
    for x in clips:
        S = librosa.feature.melspectrogram(
            y=x, sr=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length,
            window=c.window, center=c.center, pad_mode=c.pad_mode, power=c.power, n_mels=c.n_mels,
            fmin=c.fmin, fmax=c.fmax, htk=c.mel_scale == "htk", norm=c.mel_norm,
        )
        out.append(librosa.power_to_db(S, ref=1.0, amin=c.amin, top_db=c.top_db))
    return out


def bench_logmel(clips: list[np.ndarray], repeats: int) -> dict:
    audio_s = sum(len(x) for x in clips) / SR
    rows = {}
    for name in ("speakercct", "vacnn"):
        c = preset(name)
        fe = LogMelFrontEnd(c, device="cpu")
        big = LogMelFrontEnd(c, device="cpu", max_batch_samples=SR * 600)
        t = best_of(
            {
                "project": lambda fe=fe: fe.compute_many(clips),
                "project_one_big_batch": lambda big=big: big.compute_many(clips),
                "librosa": lambda c=c: librosa_logmel(clips, c),
            },
            repeats,
        )
        diff = max(float(np.abs(a - b).max()) for a, b in zip(fe.compute_many(clips[:5]), librosa_logmel(clips[:5], c), strict=True))
        row = {
            "config_hash": c.hash(),
            "n_fft": c.n_fft,
            "hop": c.hop_length,
            "n_mels": c.n_mels,
            "project_audio_s_per_s": audio_s / t["project"],
            "project_one_big_batch_audio_s_per_s": audio_s / t["project_one_big_batch"],
            "librosa_audio_s_per_s": audio_s / t["librosa"],
            "max_abs_diff_db_vs_librosa": diff,
        }
        if torch.cuda.is_available():
            gfe = LogMelFrontEnd(c, device="cuda")

            def on_gpu(gfe: LogMelFrontEnd = gfe) -> None:
                gfe.compute_many(clips)
                torch.cuda.synchronize()

            row["project_cuda_audio_s_per_s"] = audio_s / best_of({"cuda": on_gpu}, repeats)["cuda"]
        rows[name] = row
    return {"audio_seconds": audio_s, "presets": rows}


def bench_bovw(clips: list[np.ndarray]) -> dict:
    fe = LogMelFrontEnd(preset("speakercct"), device="cpu")
    mels = fe.compute_many(clips)
    t0 = time.perf_counter()
    images = [to_image_uint8(m) for m in mels]
    t_image = (time.perf_counter() - t0) / len(images)
    t0 = time.perf_counter()
    descs = [kaze_descriptors(img) for img in images]
    t_kaze = (time.perf_counter() - t0) / len(images)
    n_desc = [len(d) for d in descs]
    k = 128 if sum(n_desc) > 4 * 128 else max(2, sum(n_desc) // 8)
    t0 = time.perf_counter()
    vocab = fit_vocabulary(descs, k=k, seed=0)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    vocab.histograms(descs)
    t_hist = (time.perf_counter() - t0) / len(descs)
    t0 = time.perf_counter()
    search = fit_vocabulary(descs, k_range=[32, 64, 128], seed=0) if sum(n_desc) > 4 * 128 else None
    t_search = time.perf_counter() - t0
    return {
        "images": len(images),
        "image_ms": 1000 * t_image,
        "kaze_ms_per_image": 1000 * t_kaze,
        "histogram_ms_per_image": 1000 * t_hist,
        "kaze_plus_bovw_ms_per_image": 1000 * (t_image + t_kaze + t_hist),
        "keypoints_per_image_mean": float(np.mean(n_desc)),
        "keypoints_per_image_min": int(np.min(n_desc)),
        "vocabulary_k": k,
        "vocabulary_fit_s": t_fit,
        "silhouette_search_s": t_search if search is not None else None,
        "silhouette_scores": search.card.silhouette_scores if search is not None else None,
        "silhouette_chosen_k": search.k if search is not None else None,
    }


def bench_egemaps(clips: list[np.ndarray]) -> dict:
    ex = FunctionalsExtractor("egemaps")
    ex(clips[0], SR)
    audio_s = sum(len(x) for x in clips) / SR
    t0 = time.perf_counter()
    ex.many(clips, SR)
    dt = time.perf_counter() - t0
    return {"ms_per_audio_second": 1000 * dt / audio_s, "audio_s_per_s": audio_s / dt, "dim": ex.dim}


def bench_speaker(clips: list[np.ndarray]) -> dict:
    enc = Ge2eEncoder(device="cpu")
    enc.embed(clips[0])
    t0 = time.perf_counter()
    for x in clips:
        enc.embed(x)
    single = (time.perf_counter() - t0) / len(clips)
    t0 = time.perf_counter()
    enc.embed_batch(clips)
    batched = (time.perf_counter() - t0) / len(clips)
    row = {"ms_per_utterance_single": 1000 * single, "ms_per_utterance_batched": 1000 * batched,
           "mean_utterance_s": float(np.mean([len(x) for x in clips]) / SR)}
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav

        ve = VoiceEncoder("cpu", verbose=False)
        ve.embed_utterance(preprocess_wav(clips[0]))
        t0 = time.perf_counter()
        for x in clips:
            ve.embed_utterance(preprocess_wav(x))
        row["resemblyzer_ms_per_utterance"] = 1000 * (time.perf_counter() - t0) / len(clips)
    except ImportError:  # pragma: no cover
        pass
    return row


def markdown(result: dict) -> str:
    lm = result["logmel"]
    lines = [
        "# Features benchmark",
        "",
        f"- machine: {result['machine']}",
        f"- data: {result['data']}",
        f"- torch threads: {result['torch_threads']} (BLAS/OpenMP threads 1); best of {result['repeats']} runs",
        "",
        "## Log-mel throughput (seconds of audio per second, CPU)",
        "",
        "| preset | n_fft / hop / mels | project (default batching) | project, one 600 s batch | librosa | max abs diff (dB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in lm["presets"].items():
        lines.append(
            f"| {name} | {r['n_fft']} / {r['hop']} / {r['n_mels']} | {r['project_audio_s_per_s']:.0f} | "
            f"{r['project_one_big_batch_audio_s_per_s']:.0f} | {r['librosa_audio_s_per_s']:.0f} | {r['max_abs_diff_db_vs_librosa']:.1e} |"
        )
    b, e, s = result["bovw"], result["egemaps"], result["speaker"]
    lines += [
        "",
        "## KAZE + BOVW (224x224 uint8 log-mel images)",
        "",
        f"- image: {b['image_ms']:.2f} ms, KAZE: {b['kaze_ms_per_image']:.1f} ms, histogram: {b['histogram_ms_per_image']:.2f} ms"
        f" -> **{b['kaze_plus_bovw_ms_per_image']:.1f} ms per image** ({b['images']} images)",
        f"- keypoints per image: mean {b['keypoints_per_image_mean']:.0f}, min {b['keypoints_per_image_min']}",
        f"- vocabulary fit (k={b['vocabulary_k']}): {b['vocabulary_fit_s']:.1f} s;"
        + (f" silhouette search over {list(b['silhouette_scores'])}: {b['silhouette_search_s']:.1f} s, chose k={b['silhouette_chosen_k']}"
           if b["silhouette_scores"] else ""),
        "",
        "## eGeMAPS (openSMILE, 88 functionals)",
        "",
        f"- **{e['ms_per_audio_second']:.1f} ms per second of audio** ({e['audio_s_per_s']:.0f}x real time)",
        "",
        "## Speaker embedding (GE2E from resemblyzer, 256-d)",
        "",
        f"- **{s['ms_per_utterance_single']:.1f} ms per utterance** one at a time, {s['ms_per_utterance_batched']:.1f} ms batched"
        f" (mean utterance {s['mean_utterance_s']:.1f} s)"
        + (f"; resemblyzer's own embed_utterance: {s['resemblyzer_ms_per_utterance']:.1f} ms" if "resemblyzer_ms_per_utterance" in s else ""),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    clips, data = load_clips(args.clips, args.seed)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}",
        "data": data,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result["logmel"] = bench_logmel(clips, args.repeats)
    result["bovw"] = bench_bovw(clips)
    result["egemaps"] = bench_egemaps(clips)
    result["speaker"] = bench_speaker(clips)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "features.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (RESULTS / "features.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
