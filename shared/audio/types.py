"""Typed containers for audio and speech segments (lhotse-style: a segment knows its channel)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 samples in [-1, 1], shape (channels, samples)."""

    samples: np.ndarray
    sample_rate: int
    source_format: str = "unknown"

    @property
    def num_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.num_samples / float(self.sample_rate)

    def channel(self, index: int) -> np.ndarray:
        return self.samples[index]


@dataclass(frozen=True)
class Segment:
    """A stretch of speech on one channel; times are milliseconds from the start of the recording."""

    channel: int
    start_ms: int
    end_ms: int
    speaker: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def slice(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """The samples of this segment from a 1-D channel signal."""
        a = int(round(self.start_ms * sample_rate / 1000))
        b = int(round(self.end_ms * sample_rate / 1000))
        return samples[a:b]
