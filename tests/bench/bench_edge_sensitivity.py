"""Which eGeMAPS functionals move when a clip's edges move by one VAD window (32 ms)?

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/bench_edge_sensitivity.py

The eval path trims a corpus clip and the call path trims a segment the streaming VAD cut from a call;
their edges can disagree by a VAD window. For 60 seeded clips of SAVEE, RAVDESS and URDU, each
functional is computed on the VAD span and on the span with either edge moved by 512 samples; the
mean absolute change over the functional's spread across clips is printed, largest first, and written
to tests/bench/results/edge_sensitivity.json. Those above 0.2 are ``EDGE_UNSTABLE_EGEMAPS``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from shared.audio.vad import SileroVad, VadConfig
    from shared.features.egemaps import FunctionalsExtractor

    corpora = Path(os.environ.get("SER_CORPORA", ROOT.parent / "shared" / "corpora"))
    files = (sorted(corpora.glob("SAVEE/*.flac")) + sorted(corpora.glob("RAVDESS/*/*.flac"))
             + sorted(corpora.glob("URDU/*/*.flac")))
    rng = np.random.default_rng(0)
    files = [files[i] for i in rng.choice(len(files), 60, replace=False)]
    vad, extractor = SileroVad(device="cpu"), FunctionalsExtractor("egemaps")
    base, deltas = [], []
    for f in files:
        x = sf.read(f, dtype="float32")[0]
        pad = 8000
        spans = vad.segments(np.pad(x, (pad, pad)), 16000, VadConfig())
        if not spans:
            continue
        s, e = max(0, spans[0][0] * 16 - pad), min(len(x), spans[-1][1] * 16 - pad)
        b = extractor(x[s:e], 16000)
        base.append(b)
        moved = [extractor(x[max(0, s + ds) : min(len(x), e + de)], 16000) - b
                 for ds, de in ((512, 0), (-512, 0), (0, -512), (0, 512))]
        deltas.append(np.abs(np.asarray(moved)).mean(axis=0))
    ratio = np.asarray(deltas).mean(axis=0) / (np.asarray(base).std(axis=0) + 1e-9)
    ranked = [(extractor.names[i], round(float(ratio[i]), 3)) for i in np.argsort(-ratio)]
    out = ROOT / "tests" / "bench" / "results" / "edge_sensitivity.json"
    out.write_text(json.dumps({"clips": len(base), "ranked": ranked}, indent=1))
    for name, r in ranked[:20]:
        print(f"{r:6.3f}  {name}")


if __name__ == "__main__":
    main()
