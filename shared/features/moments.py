"""Additive feature moments (count, sum, sum of squares): group statistics that can be summed.

Per-speaker normalisation needs a speaker's statistics over all of its rows. In training those
are a corpus speaker's clips; in serving, a call channel's segments, which arrive in chunks (a long
call) or one by one (a stream). Moments of disjoint sets add up, so each path sums per-item moments
and gets exactly the statistics the all-at-once computation would.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of a set of feature rows: count, per-dim sum and sum of squares (float64)."""

    n: float
    s: np.ndarray
    ss: np.ndarray

    @classmethod
    def zeros(cls, dim: int) -> Moments:
        return cls(0.0, np.zeros(dim), np.zeros(dim))

    @classmethod
    def of(cls, rows: np.ndarray) -> Moments:
        x = np.asarray(rows, dtype=np.float64).reshape(-1, np.shape(rows)[-1])
        return cls(float(len(x)), x.sum(axis=0), (x * x).sum(axis=0))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, self.s + other.s, self.ss + other.ss)

    @property
    def mean(self) -> np.ndarray:
        return self.s / max(self.n, 1e-12)

    @property
    def var(self) -> np.ndarray:
        """Population variance (as ``np.var``), never negative."""
        return np.maximum(self.ss / max(self.n, 1e-12) - self.mean**2, 0.0)
