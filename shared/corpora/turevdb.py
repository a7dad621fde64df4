"""TurEV-DB (Turkish Emotional Voice Database), Turkish; single words, acted by six speakers.

Names ``<Emotion>/<speaker>_<code>_<word>.flac`` (or ``.wav``), folders Angry, Calm, Happy, Sad;
speakers 1157, 1234, 1358, 1984, 6783, 7895; codes kz angry (kizgin), mt happy (mutlu),
sk calm (sakin), hl sad (huzunlu). The label comes from the code; a file whose code contradicts
its emotion folder is unparseable. Genders are not encoded and left ``None``.

There is no neutral class. Calm stays ``calm`` here, whatever the experiment: turning it into
neutral is a choice made only by naming a label map (``4class-calm-as-neutral``, or
``3class-parry``, where calm is neutral); ``4class`` drops it. See ``labels.py``.
"""
from __future__ import annotations

import re
from pathlib import Path

from shared.corpora.base import Unparseable, check_folder, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "turevdb"
LANGUAGE = "tr"
EMOTIONS = {"kz": "angry", "mt": "happy", "sk": "calm", "hl": "sad"}
FOLDERS = {"angry": "kz", "happy": "mt", "calm": "sk", "sad": "hl"}
SPEAKERS = ("1157", "1234", "1358", "1984", "6783", "7895")
_NAME = re.compile(r"^(\d{4})_([a-z]{2})_([a-z]+\d*)\Z")


def parse(path: Path) -> CorpusItem:
    m = _NAME.match(path.stem)
    if not m:
        raise Unparseable("expected <speaker:4 digits>_<code>_<word>, e.g. 1157_kz_acik")
    speaker, code, word = m.groups()
    if code not in EMOTIONS:
        raise Unparseable(f"unknown emotion code {code!r}; known {sorted(EMOTIONS)}")
    if speaker not in SPEAKERS:
        raise Unparseable(f"unknown speaker {speaker}; known {list(SPEAKERS)}")
    check_folder(path, FOLDERS, code)
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender=None,
        label_original=code,
        label=EMOTIONS[code],
        extra={"word": word},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
