"""Speaker PCA: train-only fit, zero padding past the data's rank, artifact round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.speaker.pca import SpeakerPca


def _embeddings(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(4, d))
    return (rng.normal(size=(n, 4)) * [5, 3, 2, 1]) @ basis + 0.01 * rng.normal(size=(n, d))


def test_matches_sklearn_and_captures_the_rank():
    from sklearn.decomposition import PCA

    x = _embeddings(200)
    ours = SpeakerPca.fit(x, width=8, corpora=["RAVDESS"])
    ref = PCA(n_components=8, svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.transform(x), ref.transform(x), atol=1e-3)
    np.testing.assert_allclose(ours.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-4)
    assert ours.card.explained_variance_ratio_total > 0.999
    assert ours.card.zero_padded is False


def test_width_beyond_dims_is_zero_padded_and_flagged():
    x = _embeddings(500, d=256)
    pca = SpeakerPca.fit(x, width=384)
    out = pca.transform(x[:3])
    assert out.shape == (3, 384)
    assert pca.card.zero_padded and pca.card.n_components == 256
    assert not out[:, 256:].any()
    few = SpeakerPca.fit(_embeddings(10), width=384)
    assert few.card.n_components == 10 and few.card.zero_padded


def test_projection_uses_the_training_fit_only():
    train, test = _embeddings(100, seed=1), _embeddings(50, seed=1) + 3.0
    pca = SpeakerPca.fit(train, width=4)
    before = pca.transform(test)
    assert np.abs(before.mean(axis=0)).max() > 0.5  # test is not re-centred: no refit on test data
    SpeakerPca.fit(test, width=4)  # fitting another object never changes this one
    np.testing.assert_array_equal(pca.transform(test), before)


def test_save_load_round_trip(tmp_path):
    x = _embeddings(120)
    pca = SpeakerPca.fit(x, width=16, corpora=["RAVDESS/train", "TESS/train"])
    pca.save(tmp_path / "pca")
    card = json.loads((tmp_path / "pca" / "speaker_pca.json").read_text())
    assert card["corpora"] == ["RAVDESS/train", "TESS/train"] and card["fit_split"] == "train"
    loaded = SpeakerPca.load(tmp_path / "pca", expect_width=16)
    np.testing.assert_array_equal(loaded.transform(x), pca.transform(x))
    assert loaded.card == pca.card
    assert loaded.transform(x[0]).shape == (16,)
    with pytest.raises(ConfigMismatch):
        SpeakerPca.load(tmp_path / "pca", expect_width=384)
    with pytest.raises(NotFound):
        SpeakerPca.load(tmp_path / "nothing")


def test_bad_input():
    with pytest.raises(InvalidInput):
        SpeakerPca.fit(np.ones((1, 4)))
    pca = SpeakerPca.fit(_embeddings(20), width=4)
    with pytest.raises(InvalidInput, match="dim"):
        pca.transform(np.ones((2, 5)))
