"""Resolve a batch job's inputs (folder, list file, JSONL or CSV manifest, one audio file, explicit paths).

Every file goes through ``PathPolicy.read``. One that resolves outside the data roots (a ``..``
entry, a symlink out) is refused on its own and recorded by the task as that file's failure, with
nothing opened; the rest of the batch goes on. Relative entries of a manifest resolve against the
manifest's folder, whatever its format. A file listed twice (or through links to one file) counts once.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shared.corpora.items import Manifest
from shared.errors import InvalidInput, SpecError
from shared.paths import PathPolicy

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")
REFUSED = "invalid_input"


@dataclass(frozen=True)
class Refused:
    """A listed file that was not opened, and why (the message never holds more than the listed path)."""

    path: str
    message: str

    def record(self) -> dict[str, object]:
        """The per-file failure a task writes for it."""
        return {"path": self.path, "ok": False, "error": REFUSED, "message": self.message, "retryable": False}


@dataclass(frozen=True)
class Inputs:
    files: list[Path] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) + len(self.refused)


def _listed(manifest: Path) -> list[Path]:
    """The paths a manifest file lists, relative ones joined to its folder (not yet resolved or confined)."""
    base = manifest.parent
    suffix = manifest.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return [manifest]  # one recording given as the manifest: a batch of one
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"manifest {manifest} is not text: give a folder, a .txt list (one path a line), a .jsonl "
                        f"or .csv manifest with a `path` field, or one audio file ({', '.join(AUDIO_SUFFIXES)})"
                        ) from None
    if suffix == ".jsonl":
        raw = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw.append(str(json.loads(line)["path"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise SpecError(f"{manifest}:{n}: a JSONL manifest line must be a JSON object with a 'path' field"
                                ) from None
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if "path" not in (reader.fieldnames or []):
            raise SpecError(f"{manifest}: a CSV manifest needs a `path` column")
        raw = [row["path"].strip() for row in reader if (row.get("path") or "").strip()]
    else:
        raw = [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]
    return [Path(s) if Path(s).is_absolute() else base / s for s in raw]


def resolve_inputs(inputs: list[str], manifest: str | None, paths: PathPolicy = PathPolicy()) -> Inputs:
    """Every file of the batch, confined one by one; order is stable (sorted for folders).

    The manifest itself is part of the spec: outside the roots it fails the job (InvalidInput).
    """
    listed = [Path(p) for p in inputs]
    if manifest:
        m = paths.read(manifest)
        if m.is_dir():
            listed += sorted(p for p in m.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif m.is_file():
            listed += _listed(m)
        else:
            raise SpecError(f"manifest not found: {manifest}")
    if not listed:
        raise SpecError("the batch has no input files")
    return confine_all(listed, paths)


def confine_all(listed: Iterable[Path], paths: PathPolicy) -> Inputs:
    """Each listed path confined, in order, once: a file named twice or reached through several links (the
    same resolved path) is one file of the batch, so every count of it (progress, results, summary) agrees."""
    files: dict[Path, None] = {}
    refused: dict[str, Refused] = {}
    for path in listed:
        try:
            files.setdefault(paths.read(path), None)
        except InvalidInput as exc:
            refused.setdefault(str(path), Refused(str(path), str(exc)))
    return Inputs(list(files), list(refused.values()))


def confine_items(manifest: Manifest, paths: PathPolicy) -> tuple[Manifest, list[Refused]]:
    """A corpus manifest without the items whose files resolve outside the data roots, and those items."""
    kept, refused = [], []
    for item in manifest:
        try:
            paths.read(item.path)
            kept.append(item)
        except InvalidInput as exc:
            refused.append(Refused(str(item.path), str(exc)))
    return manifest.with_items(kept), refused
