"""EmoDB (Berlin Database of Emotional Speech), German.

Names like ``wav/03a01Fa.wav``: speaker (2 digits), text code (``a01``..``b10``), emotion letter
(German initials), version letter. Speaker genders come from the corpus documentation.
"""
from __future__ import annotations

import re
from pathlib import Path

from shared.corpora.base import Unparseable, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "emodb"
LANGUAGE = "de"
EMOTIONS = {
    "W": "angry",  # Aerger / Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happy",  # Freude
    "T": "sad",  # Trauer
    "N": "neutral",
}
GENDERS = {
    "03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
    "12": "male", "13": "female", "14": "female", "15": "male", "16": "female",
}
_NAME = re.compile(r"^(\d{2})([ab]\d{2})([A-Z])([a-z])\Z")


def parse(path: Path) -> CorpusItem:
    m = _NAME.match(path.stem)
    if not m:
        raise Unparseable("expected <speaker:2 digits><text:a01..b10><emotion letter><version>, e.g. 03a01Fa")
    speaker, text, code, version = m.groups()
    if code not in EMOTIONS:
        raise Unparseable(f"unknown emotion letter {code!r}; known {sorted(EMOTIONS)}")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender=GENDERS.get(speaker),
        label_original=code,
        label=EMOTIONS[code],
        extra={"text": text, "version": version},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
