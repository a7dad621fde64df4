"""ESD (Emotional Speech Dataset): speakers 0001-0010 Mandarin, 0011-0020 English.

Names ``0001/Angry/0001_000351.wav``; some copies add a ``train``/``evaluation``/``test`` folder
under the emotion, which is kept in ``extra["subset"]``. Genders are not encoded and left ``None``.
"""
from __future__ import annotations

import re
from pathlib import Path

from shared.corpora.base import Unparseable, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "esd"
EMOTIONS = {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprise"}
SUBSETS = ("train", "evaluation", "test")
_NAME = re.compile(r"^(\d{4})_(\d{6})\Z")


def language_of(speaker: str) -> str:
    return "zh" if int(speaker) <= 10 else "en"


def parse(path: Path) -> CorpusItem:
    m = _NAME.match(path.stem)
    if not m:
        raise Unparseable("expected <speaker:4 digits>_<utterance:6 digits>, e.g. 0001_000351")
    speaker, utt = m.groups()
    emotion_dir = path.parent
    subset = None
    if emotion_dir.name.lower() in SUBSETS:
        subset, emotion_dir = emotion_dir.name.lower(), emotion_dir.parent
    emotion = emotion_dir.name.lower()
    if emotion not in EMOTIONS:
        raise Unparseable(f"emotion folder {emotion_dir.name!r} is not one of {sorted(EMOTIONS)}")
    if emotion_dir.parent.name.isdigit() and emotion_dir.parent.name != speaker:
        raise Unparseable(f"speaker {speaker} in the name but folder {emotion_dir.parent.name}")
    if not 1 <= int(speaker) <= 20:
        raise Unparseable(f"speaker {speaker} outside 0001-0020")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=language_of(speaker),
        speaker=speaker,
        gender=None,
        label_original=emotion_dir.name,
        label=EMOTIONS[emotion],
        extra={"utterance": utt, "subset": subset},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
