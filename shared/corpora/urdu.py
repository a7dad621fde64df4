"""URDU (Latif et al. 2018), Urdu; natural speech from Urdu TV talk shows, not acted.

Names ``<Emotion>/S<G><id>_F<nn>_<E><nn>.flac`` (or ``.wav``), folders Angry, Happy, Neutral, Sad:
``S<G><id>`` is the speaker (G = M/F gives the gender), ``F<nn>`` the speaker's file number within
that emotion, ``<E><nn>`` the emotion letter (A angry, H happy, N neutral, S sad) and its running
number, written with a leading 0 (``A01``, ``A010``, ``A0100``). The label comes from the name; a
file whose emotion letter contradicts its emotion folder is unparseable.

The speaker is the ``S<G><id>`` part as written (``SM1`` and ``SF1`` are two people), taken as one
person across emotion folders (``SM3`` appears in Angry, Happy and Neutral), which is the safe
reading for speaker-independent splits. The corpus documentation counts 38 speakers (27 male,
11 female), but the file names only tell 29 apart (18 male: SM1-SM7, SM17-SM27; 11 female:
SF1-SF11): the names cannot recover the other nine, so speaker keys are those 29.
Most speakers show a single emotion: per-speaker normalisation that assumes every speaker shows
every emotion does not hold here.
"""
from __future__ import annotations

import re
from pathlib import Path

from shared.corpora.base import Unparseable, check_folder, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "urdu"
LANGUAGE = "ur"
EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
FOLDERS = {"angry": "A", "happy": "H", "neutral": "N", "sad": "S"}
GENDERS = {"M": "male", "F": "female"}
_NAME = re.compile(r"^(S([MF])\d+)_F(\d+)_([A-Z])(\d+)\Z")


def parse(path: Path) -> CorpusItem:
    m = _NAME.match(path.stem)
    if not m:
        raise Unparseable("expected S<M|F><id>_F<nn>_<A|H|N|S><nn>, e.g. SM1_F1_A01")
    speaker, gender, file_no, code, number = m.groups()
    if code not in EMOTIONS:
        raise Unparseable(f"unknown emotion letter {code!r}; known {sorted(EMOTIONS)}")
    check_folder(path, FOLDERS, code)
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender=GENDERS[gender],
        label_original=code,
        label=EMOTIONS[code],
        extra={"file": int(file_no), "number": int(number)},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
