"""Resolve a batch job's inputs (folder, list file, JSONL manifest or explicit paths) to audio files."""
from __future__ import annotations

import json
from pathlib import Path

from shared.errors import SpecError
from shared.paths import confine

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")


def resolve_inputs(inputs: list[str], manifest: str | None, roots: tuple[Path, ...] = ()) -> list[Path]:
    """Every path is confined to ``roots`` when roots are configured; order is stable (sorted for folders)."""
    paths = [Path(p) for p in inputs]
    if manifest:
        m = confine(Path(manifest), roots)
        if m.is_dir():
            paths += sorted(p for p in m.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif m.is_file() and m.suffix == ".jsonl":
            for n, line in enumerate(m.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    paths.append(Path(json.loads(line)["path"]))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise SpecError(f"{m}:{n}: a JSONL manifest line needs a 'path' field ({exc})") from exc
        elif m.is_file():
            base = m.parent
            paths += [Path(s) if Path(s).is_absolute() else base / s
                      for s in (line.strip() for line in m.read_text().splitlines()) if s and not s.startswith("#")]
        else:
            raise SpecError(f"manifest not found: {manifest}")
    if not paths:
        raise SpecError("the batch has no input files")
    return [confine(p, roots) for p in paths]
