"""CREMA-D, English, 91 actors.

Names ``AudioWAV/1001_DFA_ANG_XX.wav``: actor id, sentence code, emotion (ANG DIS FEA HAP NEU SAD),
intensity (LO MD HI XX, XX = unspecified). Genders come from ``VideoDemographics.csv`` (columns
ActorID, Sex) when it is found under the root or passed explicitly; otherwise gender is ``None``.
"""
from __future__ import annotations

import csv
import re
from functools import partial
from pathlib import Path

from shared.corpora.base import Unparseable, collect_dir, require_dir, within_root
from shared.corpora.items import CorpusItem, Manifest
from shared.errors import InvalidInput, NotFound

CORPUS = "crema-d"
LANGUAGE = "en"
EMOTIONS = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fear",
    "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}
DEMOGRAPHICS = "VideoDemographics.csv"
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})\Z")


def read_genders(csv_path: Path) -> dict[str, str]:
    """ActorID -> sex. An error names the file and the rule, never what the file holds (it may not be a table)."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"ActorID", "Sex"} <= set(reader.fieldnames):
                raise InvalidInput(f"{CORPUS}: {csv_path} is not a demographics table (a CSV with columns ActorID "
                                   f"and Sex)")
            return {(row["ActorID"] or "").strip(): (row["Sex"] or "").strip().lower() for row in reader}
    except (UnicodeDecodeError, csv.Error, AttributeError):
        raise InvalidInput(f"{CORPUS}: {csv_path} is not a demographics table (UTF-8 CSV)") from None


def parse(path: Path, genders: dict[str, str]) -> CorpusItem:
    m = _NAME.match(path.stem)
    if not m:
        raise Unparseable("expected <actor:4 digits>_<sentence>_<emotion>_<level>, e.g. 1001_DFA_ANG_XX")
    actor, sentence, emo, level = m.groups()
    if emo not in EMOTIONS:
        raise Unparseable(f"unknown emotion {emo!r}; known {sorted(EMOTIONS)}")
    return CorpusItem(
        path=path,
        corpus=CORPUS,
        language=LANGUAGE,
        speaker=actor,
        gender=genders.get(actor),
        label_original=emo,
        label=EMOTIONS[emo],
        extra={"sentence": sentence, "level": level},
    )


def load(root: str | Path, demographics: str | Path | None = None) -> Manifest:
    """``demographics`` is typed as a path, so a job confines it to the data roots before this runs; one found
    under the root must resolve inside it (``within_root``)."""
    root = require_dir(root, CORPUS)
    if demographics is not None:
        csv_path = Path(demographics)
        if not csv_path.is_file():
            raise NotFound(f"{CORPUS}: demographics file {csv_path} not found")
    else:
        found = next(iter(sorted(root.rglob(DEMOGRAPHICS))), None)
        csv_path = None if found is None else within_root(found, root, CORPUS)
    genders = read_genders(csv_path) if csv_path is not None else {}
    return collect_dir(CORPUS, root, partial(parse, genders=genders))
