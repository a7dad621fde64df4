"""A participant's speaker embedding from all of their speech so far, updated segment by segment.

GE2E's utterance embedding is the L2-normalised mean of its 1.6 s partial embeddings, and a
segment's partial count grows with its duration. So the embedding of everything a channel said
so far is approximated by the duration-weighted mean of its segments' unit embeddings,
re-normalised: O(1) per segment, no audio kept, and the same numbers whether the call is analysed
whole or streamed.
"""
from __future__ import annotations

import numpy as np

from shared.errors import InvalidInput


class SpeakerTrack:
    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self.speech_ms = 0.0

    def add(self, embedding: np.ndarray, duration_ms: float) -> np.ndarray:
        """Fold one segment's embedding in; returns the embedding of all speech so far."""
        e = np.asarray(embedding, dtype=np.float64).reshape(-1)
        if duration_ms <= 0:
            raise InvalidInput(f"segment duration must be positive, got {duration_ms} ms")
        if self._sum is not None and e.shape != self._sum.shape:
            raise InvalidInput(f"embedding dim {e.shape[0]} differs from the track's {self._sum.shape[0]}")
        self._sum = e * duration_ms if self._sum is None else self._sum + e * duration_ms
        self.speech_ms += duration_ms
        return self.current()

    def current(self) -> np.ndarray:
        if self._sum is None:
            raise InvalidInput("no speech added to this speaker track yet")
        norm = float(np.linalg.norm(self._sum))
        return (self._sum / max(norm, 1e-12)).astype(np.float32)
