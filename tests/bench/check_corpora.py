"""Benchmark-time check (not a CI test): the real corpora load with the counts their README implies.

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/check_corpora.py

RAVDESS: 24 actors x 60 = 1440; neutral 96 (no strong intensity), the 7 others 192 each.
TESS: 7 emotions x 400 = 2800 minus the 2 damaged originals = 2798 (2 speakers).
SAVEE: 4 speakers x (30 neutral + 15 x 6 others) = 480.
Exits non-zero on the first mismatch; prints the counts.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.corpora import Manifest, load_corpus  # noqa: E402

EMOTIONS_7 = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"FAILED: {what}")


def clean(m: Manifest, name: str) -> None:
    check(not m.unparsed, f"{name}: unparsed files {m.unparsed[:3]}")
    check(not m.dropped, f"{name}: dropped {m.dropped}")


def check_ravdess(root: Path) -> Manifest:
    m = load_corpus("ravdess", root)
    clean(m, "RAVDESS")
    check(len(m) == 1440, f"RAVDESS has {len(m)} items, expected 1440")
    check(set(m.counts("speaker").values()) == {60} and len(m.speaker_keys) == 24, "RAVDESS: 24 actors x 60")
    expected = {e: 192 for e in EMOTIONS_7 + ("calm",)} | {"neutral": 96}
    check(m.counts("label") == dict(sorted(expected.items())), f"RAVDESS per class {m.counts('label')}")
    check(m.counts("gender") == {"female": 720, "male": 720}, f"RAVDESS genders {m.counts('gender')}")
    as_neutral = load_corpus("ravdess", root, calm_as="neutral").counts("label")
    check(as_neutral["neutral"] == 288 and "calm" not in as_neutral, "RAVDESS calm_as='neutral'")
    return m


def check_tess(root: Path) -> Manifest:
    m = load_corpus("tess", root)
    clean(m, "TESS")
    counts = m.counts("label")
    check(len(m) == 2798, f"TESS has {len(m)} items, expected 2798")
    check(tuple(counts) == EMOTIONS_7, f"TESS classes {list(counts)}")
    check(all(v in (399, 400) for v in counts.values()) and sum(400 - v for v in counts.values()) == 2,
          f"TESS per class {counts}: 400 each minus the 2 missing")
    check(sorted(m.speaker_keys) == ["tess/OAF", "tess/YAF"], f"TESS speakers {sorted(m.speaker_keys)}")
    return m


def check_savee(root: Path) -> Manifest:
    m = load_corpus("savee", root)
    clean(m, "SAVEE")
    expected = {e: 60 for e in EMOTIONS_7} | {"neutral": 120}
    check(len(m) == 480, f"SAVEE has {len(m)} items, expected 480")
    check(m.counts("label") == expected, f"SAVEE per class {m.counts('label')}")
    check(m.counts("speaker") == {f"savee/{s}": 120 for s in ("DC", "JE", "JK", "KL")}, "SAVEE: 4 x 120")
    return m


def main() -> None:
    root = Path(os.environ.get("SER_CORPORA", REPO.parent / "shared" / "corpora"))
    if not root.is_dir():
        raise SystemExit(f"corpora folder {root} not found (set SER_CORPORA)")
    t0 = time.perf_counter()
    results = {
        "RAVDESS": check_ravdess(root / "RAVDESS"),
        "TESS": check_tess(root / "TESS"),
        "SAVEE": check_savee(root / "SAVEE"),
    }
    for name, m in results.items():
        print(f"{name:8s} {len(m):5d} items, {len(m.speaker_keys):2d} speakers: {m.counts('label')}")
        print(f"{'':8s} per speaker: {m.counts('speaker')}" if name != "RAVDESS" else f"{'':8s} 60 per actor")
    print(f"OK: all counts match ({time.perf_counter() - t0:.1f} s, root {root})")


if __name__ == "__main__":
    main()
