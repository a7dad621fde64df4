"""TESS (Toronto Emotional Speech Set), English, two female speakers (OAF older, YAF younger).

Names ``<OAF|YAF>_<emotion>/<OAF|YAF>_<word>_<emotion>.wav``; the emotion is the last name field
(``ps`` = pleasant surprise). Folder spellings vary between copies (``OAF_Pleasant_surprise``), so
the label comes from the file name. A few originals have a damaged speaker prefix
(``OA_bite_neutral``); the speaker then comes from the folder.
"""
from __future__ import annotations

from pathlib import Path

from shared.corpora.base import Unparseable, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "tess"
LANGUAGE = "en"
EMOTIONS = {
    "angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
    "neutral": "neutral", "ps": "surprise", "sad": "sad",
}
SPEAKERS = ("OAF", "YAF")


def parse(path: Path) -> CorpusItem:
    parts = path.stem.split("_")
    if len(parts) < 3:
        raise Unparseable("expected <speaker>_<word>_<emotion>")
    emotion = parts[-1].lower()
    if emotion not in EMOTIONS:
        raise Unparseable(f"unknown emotion {parts[-1]!r}; known {sorted(EMOTIONS)}")
    speaker = parts[0].upper()
    if speaker not in SPEAKERS:
        speaker = path.parent.name.split("_")[0].upper()
        if speaker not in SPEAKERS:
            raise Unparseable(f"no speaker (OAF/YAF) in the name or folder {path.parent.name!r}")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender="female",
        label_original=emotion,
        label=EMOTIONS[emotion],
        extra={"word": "_".join(parts[1:-1])},
    )


def load(root: str | Path) -> Manifest:
    return collect_dir(CORPUS, root, parse)
