"""DEMoS (Database of Elicited Mood in Speech), Italian, 68 speakers.

Convention implemented, from the corpus's file-name legend (Zenodo record 2544829):
prefix ``NP`` (non-prototypical) or ``PR`` (prototypical, the selected 1,564 samples), then
``_<gender f|m>_<speaker number>_<emotion code><take>``, e.g. ``PR_f_01_rab01.wav``; the neutral
recordings (folder ``NEU``) may carry no NP/PR prefix (``f_01_neu01.wav``). Fields are read from
the end of the name (emotion = first three letters after the last ``_``, speaker the field before,
gender the one before that) so both shapes parse. Emotion codes: col guilt, dis disgust,
gio happiness, pau fear, rab anger, sor surprise, tri sadness, neu neutral.
``include_np=False`` keeps only prototypical and neutral samples (NP files are dropped and counted).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from shared.corpora.base import Drop, Unparseable, collect_dir
from shared.corpora.items import CorpusItem, Manifest

CORPUS = "demos"
LANGUAGE = "it"
EMOTIONS = {
    "col": "guilt",  # colpa
    "dis": "disgust",
    "gio": "happy",
    "pau": "fear",
    "rab": "angry",
    "sor": "surprise",
    "tri": "sad",
    "neu": "neutral",
}
GENDERS = {"f": "female", "m": "male"}
TYPICALITY = ("NP", "PR")


def parse(path: Path, include_np: bool = True) -> CorpusItem | Drop:
    parts = path.stem.split("_")
    if len(parts) < 3:
        raise Unparseable("expected [NP|PR_]<f|m>_<speaker>_<emotion><take>, e.g. PR_f_01_rab01")
    gender, speaker, tail = parts[-3].lower(), parts[-2], parts[-1].lower()
    prefix = parts[0].upper() if len(parts) > 3 else None
    emo = tail[:3]
    if gender not in GENDERS or not speaker.isdigit():
        raise Unparseable(f"expected <f|m>_<speaker number> before the emotion, got {parts[-3]}_{speaker}")
    if emo not in EMOTIONS:
        raise Unparseable(f"unknown emotion code {emo!r}; known {sorted(EMOTIONS)}")
    if prefix is not None and prefix not in TYPICALITY:
        raise Unparseable(f"unknown prefix {parts[0]!r}; expected NP or PR")
    if prefix == "NP" and not include_np:
        return Drop("non-prototypical (include_np=False)")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=speaker,
        gender=GENDERS[gender],
        label_original=emo,
        label=EMOTIONS[emo],
        extra={"typicality": prefix, "take": tail[3:]},
    )


def load(root: str | Path, include_np: bool = True) -> Manifest:
    return collect_dir(CORPUS, root, partial(parse, include_np=include_np))
