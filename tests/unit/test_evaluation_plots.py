import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.evaluation.plots import plot_confusion, tsne_2d


def test_confusion_png_with_an_absent_class(tmp_path):
    cm = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])  # third class absent: blank row, no division by zero
    path = plot_confusion(cm, ["a", "b", "c"], tmp_path / "deep" / "cm.png", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    raw = plot_confusion(cm, ["a", "b", "c"], tmp_path / "raw.png", normalize=False)
    assert raw.stat().st_size > 1000


def test_tsne_separates_two_clusters_and_rejects_tiny_input():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (15, 6)), rng.normal(5, 0.1, (15, 6))])
    xy = tsne_2d(x, seed=0)
    assert xy.shape == (30, 2)
    gap = np.linalg.norm(xy[:15].mean(0) - xy[15:].mean(0))
    spread = max(xy[:15].std(0).max(), xy[15:].std(0).max())
    assert gap > 3 * spread
    with pytest.raises(InvalidInput):
        tsne_2d(x[:3])
