"""PNG plots for reports: confusion matrices and t-SNE of embeddings (Parry et al., Figure 2).

Uses matplotlib's object API with the Agg canvas, never pyplot, so there is no global figure
state and nothing needs a display.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shared.errors import InvalidInput


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_confusion(
    cm: np.ndarray, classes: Sequence[str], path: str | Path, title: str = "", normalize: bool = True
) -> Path:
    """Heat map; with ``normalize`` each row shows recall (absent classes stay blank)."""
    cm = np.asarray(cm, dtype=np.float64)
    shown = cm.copy()
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        shown = np.divide(cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
    k = len(classes)
    fig = Figure(figsize=(1.0 + 0.7 * k, 0.8 + 0.7 * k))
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if not np.isnan(shown[i, j]):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if normalize and shown[i, j] > 0.5 else "black")
    ax.set_title(title or "confusion matrix")
    return _save(fig, path)


def tsne_2d(embeddings: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    from sklearn.manifold import TSNE

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < 4:
        raise InvalidInput(f"t-SNE needs a 2-D matrix with at least 4 rows, got {x.shape}")
    perplexity = min(perplexity, (len(x) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(x)


def plot_tsne(
    embeddings: np.ndarray,
    corpora: Sequence[str],
    emotions: Sequence[str],
    path: str | Path,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Two panels of the same 2-D t-SNE: coloured by corpus, and by emotion."""
    if not len(corpora) == len(emotions) == len(embeddings):
        raise InvalidInput("embeddings, corpora and emotions must have the same length")
    xy = tsne_2d(embeddings, seed=seed)
    fig = Figure(figsize=(12, 5.2))
    for k, (labels, name) in enumerate(((corpora, "corpus"), (emotions, "emotion"))):
        ax = fig.add_subplot(1, 2, k + 1)
        labels = np.asarray([str(v) for v in labels])
        for j, value in enumerate(sorted(set(labels))):
            rows = labels == value
            ax.scatter(xy[rows, 0], xy[rows, 1], s=8, alpha=0.7, label=value, color=f"C{j % 10}")
        ax.legend(fontsize=7, markerscale=2, loc="best")
        ax.set_title(f"coloured by {name}")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return _save(fig, path)
