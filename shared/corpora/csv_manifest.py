"""A generic CSV manifest, for corpora without a dedicated loader.

Required columns: path, label, speaker, corpus, language; optional: gender, start, duration,
channel. Relative paths are resolved against the CSV's folder. ``label`` is the original label;
its canonical label comes from ``labels.SYNONYMS`` (``anger`` -> ``angry``) and is ``None`` when
the name is not a known spelling, so a label map will drop and count it rather than guess.
Rows with a missing value or a missing audio file are reported as unparsed.
"""
from __future__ import annotations

import csv
from pathlib import Path

from shared.corpora.base import AUDIO_SUFFIXES, Unparseable, report
from shared.corpora.items import CorpusItem, Manifest, Unparsed
from shared.corpora.labels import canonical_label
from shared.errors import NotFound, SpecError

CORPUS = "csv"
REQUIRED = ("path", "label", "speaker", "corpus", "language")
OPTIONAL = ("gender", "start", "duration", "channel")


def _parse_row(row: dict[str, str], base: Path, check_files: bool) -> CorpusItem:
    values = {k: (row.get(k) or "").strip() for k in REQUIRED + OPTIONAL}
    empty = [k for k in REQUIRED if not values[k]]
    if empty:
        raise Unparseable(f"empty required column(s) {empty}")
    path = Path(values["path"])
    if not path.is_absolute():
        path = base / path
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise Unparseable(f"not a .wav/.flac file: {path.name}")
    if check_files and not path.is_file():
        raise Unparseable("audio file not found")
    try:
        start = float(values["start"]) if values["start"] else 0.0
        duration = float(values["duration"]) if values["duration"] else None
        channel = int(values["channel"]) if values["channel"] else 0
    except ValueError as exc:
        raise Unparseable(f"bad number in start/duration/channel: {exc}") from exc
    return CorpusItem(
        path=path,
        corpus=values["corpus"],
        language=values["language"],
        speaker=values["speaker"],
        gender=values["gender"] or None,
        label_original=values["label"],
        label=canonical_label(values["label"]),
        start_s=start,
        duration_s=duration,
        channel=channel,
    )


def load(root: str | Path, check_files: bool = True) -> Manifest:
    """``root`` is the CSV file itself."""
    csv_path = Path(root)
    if not csv_path.is_file():
        raise NotFound(f"CSV manifest {csv_path} not found")
    items: list[CorpusItem] = []
    unparsed: list[Unparsed] = []
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise SpecError(f"{csv_path}: missing column(s) {missing}; required {list(REQUIRED)}")
        for lineno, row in enumerate(reader, 2):
            try:
                items.append(_parse_row(row, csv_path.parent, check_files))
            except Unparseable as exc:
                unparsed.append(Unparsed(f"{csv_path}:{lineno} ({row.get('path', '')})", str(exc)))
    manifest = Manifest(items=tuple(items), unparsed=tuple(unparsed))
    report(CORPUS, manifest)
    return manifest
