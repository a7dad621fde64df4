"""Which windows hold two voices at once.

A GE2E embedding of two overlapping voices lies between their centroids. Each window is fitted as
a non-negative mix of its two nearest centroids (least squares, 2 unknowns): it is *mixed* when the
smaller of the two shares is at least ``overlap_share`` and the mix explains the embedding better
than the nearest centroid alone by ``overlap_gain`` in cosine. A window that straddles a clean turn
change also looks mixed; ``resegment`` therefore calls an instant overlap only when every window
covering it is mixed. Measured on the corpus benchmark this finds little of the true overlap (most
marked stretches are one voice; README "Mono calls: diarization"): a frame-level overlap detector
trained for it would be the real fix, and ``skip_overlap`` turns the marking off.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.diarization.config import DiarizationConfig


@dataclass(frozen=True)
class MixFit:
    mixed: np.ndarray   # (n,) bool
    first: np.ndarray   # (n,) nearest centroid
    second: np.ndarray  # (n,) second nearest centroid


def two_voice_fit(embedding: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(smaller share, cosine of the best non-negative fit alpha*a + beta*b to ``embedding``)."""
    basis = np.stack([a, b], axis=1)
    coef, *_ = np.linalg.lstsq(basis, embedding, rcond=None)
    coef = np.clip(coef, 0.0, None)
    if coef.sum() <= 0:
        return 0.0, 0.0
    fit = basis @ coef
    cos = float(fit @ embedding / max(float(np.linalg.norm(fit) * np.linalg.norm(embedding)), 1e-12))
    return float(coef.min() / coef.sum()), cos


def fit_mixes(embeddings: np.ndarray, cents: np.ndarray, config: DiarizationConfig) -> MixFit:
    n = len(embeddings)
    sims = embeddings @ cents.T
    order = np.argsort(-sims, axis=1)
    first = order[:, 0]
    second = order[:, 1] if cents.shape[0] > 1 else order[:, 0]
    share = np.zeros(n)  # smaller share of the two-voice fit, 0..0.5
    gain = np.zeros(n)   # cosine the two-voice fit gains over the nearest centroid
    if config.detect_overlap and cents.shape[0] > 1:
        for i in range(n):
            s, cos = two_voice_fit(embeddings[i], cents[first[i]], cents[second[i]])
            share[i], gain[i] = s, cos - sims[i, first[i]]
    mixed = config.detect_overlap & (share >= config.overlap_share) & (gain >= config.overlap_gain)
    return MixFit(mixed, first, second)
