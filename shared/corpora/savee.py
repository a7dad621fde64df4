"""SAVEE (Surrey Audio-Visual Expressed Emotion), English, four male speakers.

Two layouts: flat ``DC_a01.wav`` and the original ``AudioData/DC/a01.wav``. Codes: a anger,
d disgust, f fear, h happiness, n neutral, sa sadness, su surprise.
"""
from __future__ import annotations

import re
from pathlib import Path

from shared.corpora.base import Unparseable, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "savee"
LANGUAGE = "en"
EMOTIONS = {
    "a": "angry", "d": "disgust", "f": "fear", "h": "happy",
    "n": "neutral", "sa": "sad", "su": "surprise",
}
_FLAT = re.compile(r"^([A-Z]{2})_(sa|su|[adfhn])(\d{2})\Z")
_NESTED = re.compile(r"^(sa|su|[adfhn])(\d{2})\Z")
_SPEAKER_DIR = re.compile(r"^[A-Z]{2}\Z")


def parse(path: Path) -> CorpusItem:
    if m := _FLAT.match(path.stem):
        speaker, code, number = m.groups()
    elif (m := _NESTED.match(path.stem)) and _SPEAKER_DIR.match(path.parent.name):
        speaker, (code, number) = path.parent.name, m.groups()
    else:
        raise Unparseable("expected <SP>_<code><NN> (DC_a01) or <SP>/<code><NN> (DC/a01)")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender="male",
        label_original=code,
        label=EMOTIONS[code],
        extra={"sentence": int(number)},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
