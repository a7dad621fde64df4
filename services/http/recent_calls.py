"""The last analysed calls (uploaded audio + AnalyzeCallResponse JSON) that the web view lists and replays.

One folder per call under SER_HTTP_CALLS_DIR: ``audio`` (the bytes as uploaded), ``result.json`` and
``meta.json``. Bounded: after each save only the newest SER_HTTP_KEEP_CALLS finished calls stay. A call
whose analysis failed is removed at once; a folder left by a crash mid-analysis goes after a day.
"""
from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import NotFound

CALL_ID = re.compile(r"^[0-9a-f]{32}\Z")
STALE_S = 24 * 3600.0
# what a browser needs to play the file, by its first bytes (the gateway decides what it can decode)
MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, "audio/wav"), (b"fLaC", 0, "audio/flac"), (b"OggS", 0, "audio/ogg"), (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"), (b"\xff\xf3", 0, "audio/mpeg"), (b"\xff\xf2", 0, "audio/mpeg"),
    (b"ftyp", 4, "audio/mp4"),
)


def sniff_content_type(head: bytes) -> str:
    return next((kind for magic, at, kind in MAGIC if head[at : at + len(magic)] == magic), "application/octet-stream")


@dataclass(frozen=True)
class RecentCalls:
    root: Path
    keep: int = 50

    def new(self) -> tuple[str, Path]:
        """A fresh call id and the path its audio goes to."""
        call_id = uuid.uuid4().hex
        folder = self.root / call_id
        folder.mkdir(parents=True)
        return call_id, folder / "audio"

    def folder(self, call_id: str) -> Path:
        if not CALL_ID.match(call_id) or not (self.root / call_id / "result.json").is_file():
            raise NotFound(f"no call {call_id[:64]!r} (the last {self.keep} analysed calls are kept)")
        return self.root / call_id

    def save(self, call_id: str, filename: str, result: dict[str, Any]) -> dict[str, Any]:
        folder = self.root / call_id
        meta = {"call_id": call_id, "filename": filename, "created_unix_ms": int(time.time() * 1000),
                "duration_s": result.get("duration_s", 0.0)}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        tmp = folder / "result.json.tmp"
        tmp.write_text(json.dumps(result), encoding="utf-8")
        tmp.replace(folder / "result.json")  # a call is listed only once its result is whole
        self.prune()
        return meta

    def discard(self, call_id: str) -> None:
        if CALL_ID.match(call_id):
            shutil.rmtree(self.root / call_id, ignore_errors=True)

    def list(self) -> list[dict[str, Any]]:
        """Finished calls, newest first."""
        calls = []
        for folder in self.root.glob("*/result.json"):
            try:
                calls.append(json.loads((folder.parent / "meta.json").read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # removed or half-written while we listed
        return sorted(calls, key=lambda m: m["created_unix_ms"], reverse=True)

    def result(self, call_id: str) -> dict[str, Any]:
        return json.loads((self.folder(call_id) / "result.json").read_text(encoding="utf-8"))

    def audio(self, call_id: str) -> tuple[Path, str]:
        path = self.folder(call_id) / "audio"
        with open(path, "rb") as fh:
            return path, sniff_content_type(fh.read(16))

    def prune(self) -> None:
        for meta in self.list()[self.keep :]:
            self.discard(meta["call_id"])
        now = time.time()
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            try:
                unfinished = not (folder / "result.json").exists() and now - folder.stat().st_mtime > STALE_S
            except OSError:
                continue
            if unfinished:
                self.discard(folder.name)
