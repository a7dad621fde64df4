"""Speaker embeddings per corpus, reduced to 2-D with metric MDS, coloured by speaker (the Speaker
CCT paper's Figure 2). Uses the object-oriented Agg canvas, so no pyplot global state and no display.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shared.errors import InvalidInput


def mds_2d(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) metric MDS on cosine distances (embeddings are compared by cosine)."""
    from sklearn.manifold import MDS

    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)
    dist = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2
    mds = MDS(n_components=2, metric="precomputed", init="classical_mds", n_init=1, random_state=seed)
    return mds.fit_transform(dist)


def plot_speaker_mds(
    embeddings: np.ndarray,
    speakers: Sequence[str],
    corpora: Sequence[str],
    out_png: Path | str,
    seed: int = 0,
    max_per_corpus: int = 400,
) -> Path:
    """One panel per corpus; at most ``max_per_corpus`` points each (seeded subsample) to keep MDS quick."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.asarray(embeddings)
    if not (len(x) == len(speakers) == len(corpora)) or len(x) == 0:
        raise InvalidInput(f"need matching non-empty embeddings/speakers/corpora, got {len(x)}/{len(speakers)}/{len(corpora)}")
    names = sorted(set(corpora))
    fig = Figure(figsize=(5 * len(names), 4.6))
    FigureCanvasAgg(fig)
    rng = np.random.default_rng(seed)
    for col, corpus in enumerate(names, start=1):
        idx = np.flatnonzero(np.asarray(corpora) == corpus)
        if len(idx) > max_per_corpus:
            idx = np.sort(rng.choice(idx, max_per_corpus, replace=False))
        ax = fig.add_subplot(1, len(names), col)
        if len(idx) >= 3:
            xy = mds_2d(x[idx], seed)
            spk = np.asarray(speakers)[idx]
            for s in sorted(set(spk)):
                m = spk == s
                ax.scatter(xy[m, 0], xy[m, 1], s=10, label=str(s))
            if len(set(spk)) <= 12:
                ax.legend(fontsize=7, markerscale=1.5, loc="best")
        ax.set_title(f"{corpus} ({len(idx)} utterances)")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Speaker embeddings, MDS (cosine distance), coloured by speaker")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, format="png")
    return out
