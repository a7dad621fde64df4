"""Helpers for the corpus loader tests: tiny audio files in a corpus layout (not a test module)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_audio(root: Path, relpath: str, seconds: float = 0.02, sr: int = 16000) -> Path:
    """A short noise file; format from the suffix (.wav or .flac)."""
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = (np.random.default_rng(len(relpath)).standard_normal(int(seconds * sr)) * 0.01).astype(np.float32)
    sf.write(path, samples, sr, format=path.suffix.lstrip(".").upper(), subtype="PCM_16")
    return path


def write_tree(root: Path, relpaths: list[str]) -> Path:
    for rel in relpaths:
        write_audio(root, rel)
    return root
