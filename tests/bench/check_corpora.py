"""Benchmark-time check (not a CI test): the real corpora load with the counts their README implies.

    SER_CORPORA=../shared/corpora .venv/bin/python tests/bench/check_corpora.py

RAVDESS: 24 actors x 60 = 1440; neutral 96 (no strong intensity), the 7 others 192 each.
TESS: 7 emotions x 400 = 2800 minus the 2 damaged originals = 2798 (2 speakers).
SAVEE: 4 speakers x (30 neutral + 15 x 6 others) = 480.
URDU: 4 emotions x 100 = 400. The corpus documentation counts 38 speakers (27 male, 11 female), but
the file names tell only 29 apart (SM1-SM7, SM17-SM27, SF1-SF11), so 29 speaker keys are checked.
TurEV-DB: 1735 words by 6 speakers, calm (no neutral class) kept as calm by the loader.
Exits non-zero on the first mismatch; prints the counts.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.corpora import Manifest, get_label_map, load_corpus  # noqa: E402

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


URDU_SPEAKERS = {  # files per speaker id in the names
    "SF1": 12, "SF2": 2, "SF3": 2, "SF4": 4, "SF5": 4, "SF6": 14, "SF7": 6, "SF8": 2, "SF9": 4, "SF10": 2,
    "SF11": 4, "SM1": 22, "SM2": 28, "SM3": 12, "SM4": 48, "SM5": 80, "SM6": 14, "SM7": 28, "SM17": 2,
    "SM18": 2, "SM19": 2, "SM20": 10, "SM21": 4, "SM22": 2, "SM23": 6, "SM24": 38, "SM25": 40, "SM26": 2,
    "SM27": 4,
}
TUREVDB_SPEAKERS = {"1157": 150, "1234": 328, "1358": 328, "1984": 328, "6783": 328, "7895": 273}


def check_urdu(root: Path) -> Manifest:
    m = load_corpus("urdu", root)
    clean(m, "URDU")
    check(len(m) == 400, f"URDU has {len(m)} items, expected 400")
    check(m.counts("label") == {e: 100 for e in ("angry", "happy", "neutral", "sad")}, f"URDU per class {m.counts('label')}")
    check(m.counts("speaker") == {f"urdu/{s}": n for s, n in sorted(URDU_SPEAKERS.items())},
          f"URDU per speaker {m.counts('speaker')}")
    genders = {g: len({i.speaker for i in m if i.gender == g}) for g in ("female", "male")}
    check(genders == {"female": 11, "male": 18}, f"URDU speakers per gender {genders}")
    check(m.languages == ["ur"], f"URDU languages {m.languages}")
    return m


def check_turevdb(root: Path) -> Manifest:
    m = load_corpus("turevdb", root)
    clean(m, "TurEV-DB")
    check(len(m) == 1735, f"TurEV-DB has {len(m)} items, expected 1735")
    expected = {"angry": 487, "calm": 408, "happy": 357, "sad": 483}
    check(m.counts("label") == expected, f"TurEV-DB per class {m.counts('label')}")
    check(m.counts("speaker") == {f"turevdb/{s}": n for s, n in TUREVDB_SPEAKERS.items()},
          f"TurEV-DB per speaker {m.counts('speaker')}")
    check(m.languages == ["tr"], f"TurEV-DB languages {m.languages}")
    four = get_label_map("4class").apply(m)
    check(four[1] == {"calm": 408} and len(four[0]) == 1327, f"TurEV-DB under 4class: dropped {four[1]}")
    merged = get_label_map("4class-calm-as-neutral").apply(m)
    check(not merged[1] and merged[0].counts("label")["neutral"] == 408, "TurEV-DB under 4class-calm-as-neutral")
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
        "URDU": check_urdu(root / "URDU"),
        "TurEV-DB": check_turevdb(root / "TurEV-DB"),
    }
    for name, m in results.items():
        print(f"{name:8s} {len(m):5d} items, {len(m.speaker_keys):2d} speakers: {m.counts('label')}")
        print(f"{'':8s} per speaker: {m.counts('speaker')}" if name != "RAVDESS" else f"{'':8s} 60 per actor")
    print(f"OK: all counts match ({time.perf_counter() - t0:.1f} s, root {root})")


if __name__ == "__main__":
    main()
