"""On-disk feature cache keyed by (audio content, feature config), safe under concurrent workers.

Layout: ``root/<config_hash>/<aa>/<audio_sha256>.npy``. Writers write a private temp file in the
same directory and ``os.replace`` it over the target, which is atomic on POSIX: a reader sees
either nothing or a complete file, and two workers racing on one key both succeed (last rename
wins, with identical content). Files are plain ``.npy`` read with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.errors import InvalidInput
from shared.features.atomic import atomic_write


def audio_hash(samples: np.ndarray, sample_rate: int) -> str:
    """sha256 of the float32 little-endian samples plus the rate and shape."""
    a = np.ascontiguousarray(samples, dtype="<f4")
    h = hashlib.sha256()
    h.update(f"{sample_rate}:{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


class FeatureCache:
    """Owned by its caller (no global cache). ``hits``/``misses`` count this instance's lookups."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path(self, audio_sha: str, config_hash: str) -> Path:
        if not audio_sha.isalnum() or not config_hash.isalnum():
            raise InvalidInput("cache keys must be hex digests")
        return self.root / config_hash / audio_sha[:2] / f"{audio_sha}.npy"

    def get(self, audio_sha: str, config_hash: str) -> np.ndarray | None:
        p = self.path(audio_sha, config_hash)
        try:
            value = np.load(p, allow_pickle=False)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (ValueError, OSError, EOFError):
            # A file that is not valid npy (disk trouble, foreign file) is a miss; the next put replaces it.
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, audio_sha: str, config_hash: str, value: np.ndarray) -> Path:
        target = self.path(audio_sha, config_hash)
        array = np.asarray(value)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)

        atomic_write(target, write)
        return target

    def get_or_compute(
        self,
        samples: np.ndarray,
        sample_rate: int,
        config_hash: str,
        compute: Callable[[np.ndarray], np.ndarray],
    ) -> np.ndarray:
        key = audio_hash(samples, sample_rate)
        cached = self.get(key, config_hash)
        if cached is not None:
            return cached
        value = np.asarray(compute(samples))
        self.put(key, config_hash, value)
        return value
