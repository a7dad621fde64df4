"""MDS speaker plot: separates speakers in 2-D and writes a PNG per-corpus figure."""
from __future__ import annotations

import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.speaker.plot import mds_2d, plot_speaker_mds


def _two_speakers(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, 16))
    return np.vstack([a + 0.1 * rng.normal(size=(15, 16)), b + 0.1 * rng.normal(size=(15, 16))])


def test_mds_keeps_speakers_apart():
    xy = mds_2d(_two_speakers())
    ca, cb = xy[:15].mean(axis=0), xy[15:].mean(axis=0)
    spread = max(np.linalg.norm(xy[:15] - ca, axis=1).max(), np.linalg.norm(xy[15:] - cb, axis=1).max())
    assert np.linalg.norm(ca - cb) > 2 * spread


def test_writes_a_png(tmp_path):
    x = np.vstack([_two_speakers(0), _two_speakers(1)])
    speakers = ["s1"] * 15 + ["s2"] * 15 + ["s3"] * 15 + ["s4"] * 15
    corpora = ["RAVDESS"] * 30 + ["SAVEE"] * 30
    out = plot_speaker_mds(x, speakers, corpora, tmp_path / "fig2.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(InvalidInput):
        plot_speaker_mds(x, speakers[:3], corpora, tmp_path / "bad.png")
