"""Atomic file writes: write a private temp file beside the target, then ``os.replace`` it.

Readers (other workers, a service loading an artifact) see the old file or the complete new
one, never a torn write; concurrent writers of the same target both succeed.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: Path | str, write: Callable[[str], object]) -> Path:
    """Call ``write(temp_path)`` then rename the temp file over ``target`` (same directory)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
