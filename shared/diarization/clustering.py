"""Spectral clustering of window embeddings on cosine affinity, refined by nearest centroid.

Spectral clustering (row-pruned cosine affinity, normalised Laplacian, k-means on the leading
eigenvectors; Wang et al. 2018, Park et al. 2019) is robust to the few odd windows a call has
(laughs, overlaps, turn changes) that make agglomerative linkage split off tiny clusters. A short
nearest-centroid refinement then puts every window with the speaker it is closest to.
"""
from __future__ import annotations

import numpy as np

PRUNE_KEEP = 0.3  # fraction of each row's strongest affinities kept (at least MIN_NEIGHBOURS)
MIN_NEIGHBOURS = 4
REFINE_ROUNDS = 5


def cosine_affinity(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of unit embeddings, clipped to [0, 1]."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(min=1e-12)
    return np.clip(e @ e.T, 0.0, 1.0)


def pruned_affinity(embeddings: np.ndarray, keep: float = PRUNE_KEEP) -> np.ndarray:
    """Each row keeps only its strongest ``keep`` share of affinities, then symmetrised: the graph links
    a window to its likely same-speaker neighbours instead of to everyone a little."""
    a = cosine_affinity(embeddings)
    n = len(a)
    k = min(n, max(MIN_NEIGHBOURS, int(np.ceil(keep * n))))
    kth = np.partition(a, n - k, axis=1)[:, n - k][:, None]
    pruned = np.where(a >= kth, a, 0.0)
    return 0.5 * (pruned + pruned.T)


def laplacian_spectrum(affinity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues and eigenvectors of the normalised Laplacian I - D^-1/2 A D^-1/2."""
    d = affinity.sum(axis=1).clip(min=1e-12)
    inv = 1.0 / np.sqrt(d)
    lap = np.eye(len(affinity)) - inv[:, None] * affinity * inv[None, :]
    values, vectors = np.linalg.eigh(lap)
    return values, vectors


def centroids(embeddings: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, dim) unit mean embedding of each cluster (zeros for an empty one)."""
    out = np.zeros((k, embeddings.shape[1]), dtype=np.float64)
    for c in range(k):
        members = embeddings[labels == c]
        if len(members):
            m = members.mean(axis=0)
            out[c] = m / max(float(np.linalg.norm(m)), 1e-12)
    return out


def refine(embeddings: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Nearest-centroid reassignment until stable; a move that would empty a cluster is not made."""
    labels = labels.copy()
    for _ in range(REFINE_ROUNDS):
        new = np.argmax(embeddings @ centroids(embeddings, labels, k).T, axis=1)
        if len(np.unique(new)) < len(np.unique(labels)) or np.array_equal(new, labels):
            break
        labels = new
    return labels


def cluster(embeddings: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster index 0..k-1 of each embedding (numbered in no particular order)."""
    from sklearn.cluster import KMeans

    n = len(embeddings)
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=np.int64)
    if n <= k:
        return np.arange(n, dtype=np.int64)
    _, vectors = laplacian_spectrum(pruned_affinity(embeddings))
    spectral = vectors[:, :k]
    spectral = spectral / np.linalg.norm(spectral, axis=1, keepdims=True).clip(min=1e-12)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(spectral)
    return refine(embeddings.astype(np.float64), labels.astype(np.int64), k)
