"""How many speakers (1..max) a call has, when the caller does not say.

Candidates 2..max are clustered and scored by the mean cosine silhouette; the best one is taken,
then shrunk while two of its speakers' centroids are closer than ``same_speaker_cos`` (one voice
split by mood or loudness still has near-identical centroids, two people rarely do). One speaker is
the answer when even two clusters are that close, or when no candidate reaches a mean silhouette of
``min_silhouette`` (one voice cut in two scores about 0.05, two voices 0.25 and up on the synthetic sets). Silhouette, not the eigengap, picks among 2..4:
on GE2E windows the pruned graph's eigengap tends to favour 2 whatever the truth (measured on the
unit tests' synthetic sets and on corpus mixes, see tests/unit/test_diarization_count.py).
"""
from __future__ import annotations

import numpy as np

from shared.diarization.clustering import centroids, cluster


def max_centroid_cos(embeddings: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Highest cosine similarity between two of the ``k`` cluster centroids."""
    c = centroids(embeddings, labels, k)
    sims = c @ c.T
    np.fill_diagonal(sims, -1.0)
    return float(sims.max())


def silhouette(embeddings: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return -1.0
    return float(silhouette_score(embeddings, labels, metric="cosine"))


def estimate_speakers(embeddings: np.ndarray, max_speakers: int, same_speaker_cos: float, min_silhouette: float = 0.1,
                      seed: int = 0) -> tuple[int, np.ndarray]:
    """(number of speakers, cluster labels for it)."""
    n = len(embeddings)
    if n < 2 or max_speakers < 2:
        return 1, np.zeros(n, dtype=np.int64)
    candidates = {k: cluster(embeddings, k, seed) for k in range(2, min(max_speakers, n - 1 if n > 2 else 2) + 1)}
    scores = {k: silhouette(embeddings, labels) for k, labels in candidates.items()}
    k = max(scores, key=lambda c: (scores[c], -c))
    if scores[k] < min_silhouette:
        return 1, np.zeros(n, dtype=np.int64)
    while k >= 2 and max_centroid_cos(embeddings, candidates[k], k) > same_speaker_cos:
        k -= 1
    if k < 2:
        return 1, np.zeros(n, dtype=np.int64)
    return k, candidates[k]
