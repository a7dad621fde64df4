"""Fixed-length windows over variable-length clips, never stretching a clip to a square.

Policy (one place, used for waveforms and for log-mel frames alike, along the last axis):

* A clip shorter than the window is **zero-padded at the end** (silence, i.e. the log-mel floor).
  Zero rather than reflect, because reflecting invents repeated speech that the label does not
  describe. ``valid`` records how much of the window is real.
* A clip at least as long as the window is cut into windows of ``length`` every ``stride``.
  If the last stride-aligned window stops before the end, one more window is **aligned to the
  end of the clip** (it overlaps its neighbour more) so that no audio is dropped and nothing is
  padded.
* Each window records the clip it came from and its start, so per-window predictions can be
  pooled back per clip (``pool_by_source``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.errors import EmptyAudio, InvalidInput


@dataclass(frozen=True)
class WindowPolicy:
    """Window and stride in units of the last axis (samples or frames)."""

    length: int
    stride: int

    def __post_init__(self) -> None:
        if self.length <= 0 or self.stride <= 0:
            raise InvalidInput(f"window length and stride must be positive, got {self.length}, {self.stride}")
        if self.stride > self.length:
            raise InvalidInput(f"stride {self.stride} > length {self.length} would skip data")

    def starts(self, n: int) -> list[int]:
        """Window start offsets for a clip of ``n`` units (see the module policy)."""
        if n <= 0:
            raise EmptyAudio("cannot window an empty clip")
        if n <= self.length:
            return [0]
        starts = list(range(0, n - self.length + 1, self.stride))
        if starts[-1] + self.length < n:
            starts.append(n - self.length)
        return starts


@dataclass(frozen=True)
class Windows:
    """``data[i]`` is window i, cut from clip ``source[i]`` at ``start[i]``, ``valid[i]`` units real."""

    data: np.ndarray
    source: np.ndarray
    start: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return int(self.data.shape[0])


def window_many(clips: Sequence[np.ndarray], policy: WindowPolicy) -> Windows:
    """Cut every clip (any shape, windowed along the last axis) into fixed-length windows."""
    data, source, start, valid = [], [], [], []
    for index, clip in enumerate(clips):
        clip = np.asarray(clip)
        n = clip.shape[-1]
        for s in policy.starts(n):
            piece = clip[..., s : s + policy.length]
            real = piece.shape[-1]
            if real < policy.length:
                pad = [(0, 0)] * (clip.ndim - 1) + [(0, policy.length - real)]
                piece = np.pad(piece, pad, mode="constant")
            data.append(piece)
            source.append(index)
            start.append(s)
            valid.append(real)
    if not data:
        raise EmptyAudio("no clips to window")
    return Windows(
        data=np.stack(data),
        source=np.asarray(source, dtype=np.int64),
        start=np.asarray(start, dtype=np.int64),
        valid=np.asarray(valid, dtype=np.int64),
    )


def pool_by_source(values: np.ndarray, source: np.ndarray, n_sources: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of per-window ``values`` (N, ...) per source clip, optionally weighted (e.g. by ``valid``)."""
    values = np.asarray(values, dtype=np.float64)
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.zeros((n_sources, *values.shape[1:]))
    totals = np.zeros(n_sources)
    np.add.at(out, source, values * w.reshape(-1, *([1] * (values.ndim - 1))))
    np.add.at(totals, source, w)
    if (totals == 0).any():
        missing = np.flatnonzero(totals == 0).tolist()
        raise InvalidInput(f"sources without any window: {missing}")
    return out / totals.reshape(-1, *([1] * (values.ndim - 1)))
