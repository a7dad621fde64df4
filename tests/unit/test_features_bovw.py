"""BOVW: silhouette picks the true k, histograms, zero-keypoint images, artifact round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.features.bovw import KAZE_DIM, BovwVocabulary, fit_vocabulary, kaze_descriptors
from shared.features.image import to_image_uint8


def _blobs(k: int, per_image: int, n_images: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, size=(k, KAZE_DIM)) * 3
    sets = []
    for _ in range(n_images):
        which = rng.integers(0, k, per_image)
        sets.append((centres[which] + rng.normal(0, 0.3, size=(per_image, KAZE_DIM))).astype(np.float32))
    return sets


def test_silhouette_picks_the_true_number_of_words():
    vocab = fit_vocabulary(_blobs(5, 40, 10), k_range=range(3, 9), seed=0)
    assert vocab.k == 5
    scores = vocab.card.silhouette_scores
    assert set(scores) == {str(k) for k in range(3, 9)}
    assert max(scores, key=scores.get) == "5"


def test_minibatch_path_for_large_data_also_finds_k():
    vocab = fit_vocabulary(_blobs(4, 300, 10, seed=1), k_range=[3, 4, 6], seed=0, minibatch_above=1000, silhouette_sample=800)
    assert vocab.card.algorithm == "minibatch_kmeans" and vocab.k == 4


def test_histograms_are_l1_normalised_and_empty_sets_give_zeros():
    sets = _blobs(6, 30, 6)
    vocab = fit_vocabulary(sets, k=6, seed=0)
    h = vocab.histograms(sets)
    assert h.shape == (6, 6) and np.allclose(h.sum(axis=1), 1.0)
    empty = vocab.histogram(np.zeros((0, KAZE_DIM), np.float32))
    assert empty.shape == (6,) and not empty.any()


def test_image_without_keypoints_gets_zero_histogram():
    flat = np.full((224, 224), 128, np.uint8)
    assert kaze_descriptors(flat).shape == (0, KAZE_DIM)
    vocab = fit_vocabulary(_blobs(3, 20, 3), k=3)
    assert not vocab.histogram_of_image(flat).any()


def test_kaze_on_a_log_mel_image_finds_64d_descriptors():
    t = np.arange(300)
    logmel = np.full((128, 300), -60.0)
    for band in (20, 45, 80):
        logmel[band : band + 4, (t // 40) % 2 == 0] = 0.0  # blocky harmonics switching on and off
    desc = kaze_descriptors(to_image_uint8(logmel))
    assert desc.ndim == 2 and desc.shape[1] == KAZE_DIM and len(desc) > 5
    with pytest.raises(InvalidInput):
        kaze_descriptors(np.zeros((10, 10), np.float32))


def test_save_load_round_trip_and_hash_checks(tmp_path):
    vocab = fit_vocabulary(_blobs(4, 30, 5), k=4, seed=2, corpora=["RAVDESS/train"],
                           feature_config_hash="abc123", image_config_hash="def456")
    vocab.save(tmp_path / "v1")
    card = json.loads((tmp_path / "v1" / "vocabulary.json").read_text())
    assert card["k"] == 4 and card["corpora"] == ["RAVDESS/train"] and card["histogram_norm"] == "l1"
    loaded = BovwVocabulary.load(tmp_path / "v1", expect_feature_config_hash="abc123", expect_image_config_hash="def456")
    assert np.array_equal(loaded.centroids, vocab.centroids)
    assert loaded.card == vocab.card
    probe = _blobs(4, 10, 1, seed=9)[0]
    assert np.array_equal(loaded.histogram(probe), vocab.histogram(probe))
    with pytest.raises(ConfigMismatch):
        BovwVocabulary.load(tmp_path / "v1", expect_feature_config_hash="other")
    with pytest.raises(NotFound):
        BovwVocabulary.load(tmp_path / "missing")
    assert not list((tmp_path / "v1").glob("*.tmp"))


def test_too_few_descriptors_is_a_clear_error():
    with pytest.raises(InvalidInput, match="cannot support"):
        fit_vocabulary([np.zeros((10, KAZE_DIM), np.float32)], k=128)
