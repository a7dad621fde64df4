"""What every corpus loader shares: finding audio files and turning per-file parses into a Manifest.

A loader supplies a ``parse(path) -> CorpusItem | Drop`` function; ``collect`` runs it over the
files, counts what it could not parse (``Unparseable``) and what it left out on purpose (``Drop``).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.corpora.items import CorpusItem, Manifest, Unparsed
from shared.errors import InvalidInput, NotFound, SpecError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac")


class Unparseable(Exception):
    """Raised by a parse function: the file's name or annotation does not follow the convention."""


@dataclass(frozen=True)
class Drop:
    """Returned by a parse function: a valid file that an option or the protocol leaves out."""

    reason: str


ParseFn = Callable[[Path], "CorpusItem | Drop"]


def require_dir(root: str | Path, corpus: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise NotFound(f"{corpus}: corpus root {root} is not a directory")
    return root


def within_root(path: Path, root: Path, corpus: str) -> Path:
    """``path`` (a file a loader found under ``root``, such as an annotation table) resolved; InvalidInput naming
    it when a symlink takes it outside the corpus, so a loader never opens a file nobody confined."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise InvalidInput(f"{corpus}: {path} resolves outside the corpus root {root}; a corpus reads only its own files")
    return resolved


def choose(option: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise SpecError(f"{option}={value!r} is not one of {list(allowed)}")
    return value


def audio_files(root: Path) -> tuple[list[Path], int]:
    """(.wav/.flac files under root, sorted; number of hidden files such as macOS ``._x.wav`` skipped)."""
    found: list[Path] = []
    hidden = 0
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
            continue
        if p.name.startswith("."):
            hidden += 1
            continue
        found.append(p)
    return found, hidden


def check_folder(path: Path, folders: Mapping[str, str], code: str) -> None:
    """A file filed under an emotion folder (``folders``: lower-case folder name -> code) must carry that
    folder's code in its name; a disagreement is a mislabelled file, reported rather than guessed."""
    folder = folders.get(path.parent.name.lower())
    if folder is not None and folder != code:
        raise Unparseable(f"code {code} in the name but folder {path.parent.name}")


def collect(corpus: str, items_or_paths: Iterable[Path], parse: ParseFn, hidden: int = 0) -> Manifest:
    """Run ``parse`` over files, keeping items and counting unparsed and dropped files."""
    items: list[CorpusItem] = []
    unparsed: list[Unparsed] = []
    dropped: Counter[str] = Counter()
    if hidden:
        dropped["hidden file (name starts with '.')"] += hidden
    for path in items_or_paths:
        try:
            result = parse(path)
        except Unparseable as exc:
            unparsed.append(Unparsed(str(path), str(exc)))
            continue
        if isinstance(result, Drop):
            dropped[result.reason] += 1
        else:
            items.append(result)
    manifest = Manifest(items=tuple(items), unparsed=tuple(unparsed), dropped=dict(dropped))
    report(corpus, manifest)
    return manifest


def collect_dir(corpus: str, root: str | Path, parse: ParseFn) -> Manifest:
    files, hidden = audio_files(require_dir(root, corpus))
    return collect(corpus, files, parse, hidden)


def report(corpus: str, manifest: Manifest) -> None:
    if manifest.unparsed:
        log.warning(
            "%s: %d file(s) could not be parsed, e.g. %s (%s)",
            corpus,
            len(manifest.unparsed),
            manifest.unparsed[0].path,
            manifest.unparsed[0].reason,
        )
    log.info("%s: %d items, dropped %s", corpus, len(manifest), manifest.dropped or "none")
