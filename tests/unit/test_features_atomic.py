"""Atomic writes: complete file or the old one, never a torn one or a stray temp file."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared.features.atomic import atomic_write


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write(target, lambda p: Path(p).write_text("one"))
    atomic_write(target, lambda p: Path(p).write_text("two"))
    assert target.read_text() == "two"
    assert [f.name for f in target.parent.iterdir()] == ["a.txt"]


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken(p):
        Path(p).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]
