"""Append-only JSONL results: one line per finished item, fsynced, so a crash loses at most the item in hand."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

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


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair(path)
        self._fh = open(path, "a", encoding="utf-8")

    @staticmethod
    def _repair(path: Path) -> None:
        """Drop a torn final line left by a killed worker, so appends start on a clean line."""
        if path.exists() and path.stat().st_size:
            data = path.read_bytes()
            if not data.endswith(b"\n"):
                path.write_bytes(data[: data.rfind(b"\n") + 1])

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
