"""RAVDESS, speech part, audio-only; English.

Names ``Actor_NN/MM-VV-EE-II-SS-RR-NN.wav`` (or ``.flac``): modality (03 audio-only), vocal channel
(01 speech, 02 song), emotion, intensity, statement, repetition, actor (odd = male).
Calm has no counterpart in most corpora, so it is an explicit choice: ``calm_as`` keeps it as
``calm`` (default; label maps then decide), relabels it ``neutral`` (VACNN pretraining), or drops it.
Song and non-audio-only files are dropped and counted.
"""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from shared.corpora.base import Drop, Unparseable, choose, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "ravdess"
LANGUAGE = "en"
EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fear", "07": "disgust", "08": "surprise",
}
CALM_OPTIONS = ("calm", "neutral", "drop")
_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\Z")
_ACTOR_DIR = re.compile(r"^Actor_(\d{2})\Z", re.IGNORECASE)


def parse(path: Path, calm_as: str = "calm") -> CorpusItem | Drop:
    m = _NAME.match(path.stem)
    if not m:
        raise Unparseable("expected 7 two-digit fields MM-VV-EE-II-SS-RR-NN")
    modality, vocal, emo, intensity, statement, repetition, actor = m.groups()
    if emo not in EMOTIONS or intensity not in ("01", "02") or not 1 <= int(actor) <= 24:
        raise Unparseable(f"field out of range (emotion {emo}, intensity {intensity}, actor {actor})")
    folder = _ACTOR_DIR.match(path.parent.name)
    if folder and folder.group(1) != actor:
        raise Unparseable(f"actor {actor} in the name but folder {path.parent.name}")
    if modality != "03":
        return Drop(f"modality {modality} (not audio-only)")
    if vocal != "01":
        return Drop("vocal channel 02 (song)")
    label = EMOTIONS[emo]
    if label == "calm":
        if calm_as == "drop":
            return Drop("calm (calm_as='drop')")
        label = calm_as
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=actor,
        gender="male" if int(actor) % 2 else "female",
        label_original=emo,
        label=label,
        extra={"intensity": int(intensity), "statement": int(statement), "repetition": int(repetition)},
    )


def load(root: str | Path, calm_as: str = "calm") -> Manifest:
    choose("calm_as", calm_as, CALM_OPTIONS)
    return collect_dir(CORPUS, root, partial(parse, calm_as=calm_as))
