"""EMOVO, Italian, six actors (f1-f3, m1-m3).

Names ``f1/dis-f1-b1.wav``: emotion (Italian code), speaker, sentence code.
"""
from __future__ import annotations

import re
from pathlib import Path

from shared.corpora.base import Unparseable, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "emovo"
LANGUAGE = "it"
EMOTIONS = {
    "dis": "disgust",  # disgusto
    "gio": "happy",  # gioia
    "neu": "neutral",
    "pau": "fear",  # paura
    "rab": "angry",  # rabbia
    "sor": "surprise",  # sorpresa
    "tri": "sad",  # tristezza
}
_NAME = re.compile(r"^([a-z]{3})-([fm]\d)-([a-z]+\d*)\Z")


def parse(path: Path) -> CorpusItem:
    m = _NAME.match(path.stem.lower())
    if not m:
        raise Unparseable("expected <emotion>-<speaker>-<sentence>, e.g. dis-f1-b1")
    emo, speaker, sentence = m.groups()
    if emo not in EMOTIONS:
        raise Unparseable(f"unknown emotion code {emo!r}; known {sorted(EMOTIONS)}")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender="female" if speaker.startswith("f") else "male",
        label_original=emo,
        label=EMOTIONS[emo],
        extra={"sentence": sentence},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
