"""Tiny synthetic emotional corpora in real corpus layouts, for tests that must learn something.

Each class has its own spectral signature (a harmonic tone at a class frequency, with a class
amplitude envelope); each speaker shifts it a little. A model that learns anything separates them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
CLASS_HZ = {"angry": 620.0, "happy": 420.0, "neutral": 260.0, "sad": 150.0}
SAVEE_CODES = {"angry": "a", "happy": "h", "neutral": "n", "sad": "sa"}
TESS_WORDS = ("back", "bar", "base", "bath", "bean", "beg")


def voice(label: str, speaker_shift: float, seed: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = CLASS_HZ[label] * speaker_shift * (1 + 0.02 * rng.standard_normal())
    x = sum((0.5 / k) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.28)) for k in (1, 2, 3))
    envelope = np.clip(np.sin(np.pi * t / seconds), 0, 1) ** (0.5 if label in ("angry", "happy") else 2.0)
    return (0.3 * envelope * x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, SR, subtype="PCM_16")


def make_savee(root: Path, per_class: int = 4, speakers: tuple[str, ...] = ("DC", "JE", "JK", "KL"),
               suffix: str = ".wav") -> Path:
    for s, spk in enumerate(speakers):
        for label, code in SAVEE_CODES.items():
            for n in range(1, per_class + 1):
                _write(root / f"{spk}_{code}{n:02d}{suffix}", voice(label, 1 + 0.05 * s, hash((spk, label, n)) % 2**32))
    return root


def make_tess(root: Path, per_class: int = 6, suffix: str = ".wav") -> Path:
    for s, spk in enumerate(("OAF", "YAF")):
        for label in CLASS_HZ:
            for word in TESS_WORDS[:per_class]:
                _write(root / f"{spk}_{label}" / f"{spk}_{word}_{label}{suffix}",
                       voice(label, 0.95 + 0.1 * s, hash((spk, label, word)) % 2**32))
    return root
