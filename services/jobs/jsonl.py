"""Append-only JSONL results: one line per finished item, fsynced, so a crash loses at most the item in hand."""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import InvalidInput
from shared.paths import no_symlink_below

R = TypeVar("R", bound=Mapping[str, Any])


def latest_by(records: Iterable[R], field: str) -> dict[Any, R]:
    """Each ``field`` value's latest record (appended records supersede earlier ones), in first-seen order;
    records without the field are skipped."""
    latest: dict[Any, R] = {}
    for record in records:
        if field in record:
            latest[record[field]] = record
    return latest


def finished_keys(path: Path, key: str = "path") -> set[str]:
    """Keys of items already written (a torn last line from a crash is ignored and redone)."""
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        try:
            keys.add(json.loads(line)[key])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return keys


def read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def open_nofollow(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symbolic link as the last component (InvalidInput), never writing through it."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidInput(f"{path} is a symbolic link; job outputs are never written through links") from None
        raise


class JsonlWriter:
    """Appends to ``path``; with ``root`` (the job's output folder), no folder between it and the file may be
    a symbolic link, and the file itself never is one (``O_NOFOLLOW``)."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        if root is not None:
            no_symlink_below(root, path.parent)
        path.parent.mkdir(parents=True, exist_ok=True)
        if root is not None:
            no_symlink_below(root, path)
        self._fh = os.fdopen(open_nofollow(path, os.O_RDWR | os.O_CREAT | os.O_APPEND), "r+b")
        self._repair()

    def _repair(self) -> None:
        """Drop a torn final line left by a killed worker, so appends start on a clean line."""
        data = self._fh.read()
        if data and not data.endswith(b"\n"):
            self._fh.truncate(data.rfind(b"\n") + 1)

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
