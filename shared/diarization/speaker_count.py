"""How many speakers (1..max) a call has, when the caller does not say.

Candidates 2..max are clustered and scored by the mean cosine silhouette. Two is the prior (a call
has two parties): a larger count is taken only when its silhouette beats the count below it by
``more_speakers_margin`` (on the benchmark's two-speaker corpus mixes, acted emotions split one voice
so that 3 or 4 clusters score up to 0.055 higher than 2). One speaker is the answer when no candidate
reaches ``min_silhouette`` (one synthetic voice cut in two scores about 0.05, two voices 0.25 and up),
and the count shrinks while two centroids are closer than ``same_speaker_cos``. On real acted speech
one voice is often split in two all the same: GE2E windows of one actor in different emotions form
clusters as distinct as two actors do (benchmark notes), so give ``num_speakers`` when it is known.
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
                      seed: int = 0, more_speakers_margin: float = 0.06) -> tuple[int, np.ndarray]:
    """(number of speakers, cluster labels for it)."""
    n = len(embeddings)
    if n < 2 or max_speakers < 2:
        return 1, np.zeros(n, dtype=np.int64)
    candidates = {k: cluster(embeddings, k, seed) for k in range(2, min(max_speakers, n - 1 if n > 2 else 2) + 1)}
    scores = {k: silhouette(embeddings, labels) for k, labels in candidates.items()}
    k = 2
    for more in sorted(scores)[1:]:
        if scores[more] >= scores[k] + more_speakers_margin:
            k = more
    if max(scores.values()) < min_silhouette:
        return 1, np.zeros(n, dtype=np.int64)
    while k >= 2 and max_centroid_cos(embeddings, candidates[k], k) > same_speaker_cos:
        k -= 1
    if k < 2:
        return 1, np.zeros(n, dtype=np.int64)
    return k, candidates[k]
