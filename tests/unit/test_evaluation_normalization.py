import numpy as np
import pytest

from shared.errors import InvalidInput, SpecError
from shared.evaluation.normalization import FeatureNormalizer, standardize_groups


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    # two speakers with very different offsets and scales
    x = np.vstack([rng.normal(10, 2, (50, 3)), rng.normal(-5, 0.5, (30, 3))])
    speakers = ["A"] * 50 + ["B"] * 30
    corpora = ["c1"] * 80
    return x, speakers, corpora


def test_per_speaker_uses_each_speakers_own_statistics(data):
    x, speakers, corpora = data
    z = FeatureNormalizer("per_speaker").fit(x, corpora).transform(x, corpora, speakers)
    for s in ("A", "B"):
        rows = np.array(speakers) == s
        np.testing.assert_allclose(z[rows].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(z[rows].std(axis=0), 1, atol=1e-9)
    # a speaker's output does not depend on any other speaker being present
    zb_alone = standardize_groups(x[50:], speakers[50:])
    np.testing.assert_allclose(zb_alone, z[50:])


def test_global_and_per_corpus_use_training_statistics(data):
    x, speakers, corpora = data
    train, test = x[:40], x[40:]
    g = FeatureNormalizer("global").fit(train)
    np.testing.assert_allclose(g.transform(test), (test - train.mean(0)) / train.std(0))
    pc = FeatureNormalizer("per_corpus").fit(x[:60], ["c1"] * 30 + ["c2"] * 30)
    out = pc.transform(x[:60], ["c1"] * 30 + ["c2"] * 30)
    np.testing.assert_allclose(out[:30].mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(pc.transform(x[60:], ["c2"] * 20), (x[60:] - x[30:60].mean(0)) / x[30:60].std(0))


def test_unseen_corpus_uses_its_own_statistics_or_errors(data):
    x, _, _ = data
    pc = FeatureNormalizer("per_corpus").fit(x[:50], ["c1"] * 50)
    z = pc.transform(x[50:], ["new"] * 30)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-9)
    strict = FeatureNormalizer("per_corpus", unseen_corpus="error").fit(x[:50], ["c1"] * 50)
    with pytest.raises(SpecError, match="'new'"):
        strict.transform(x[50:], ["new"] * 30)


def test_none_constant_features_and_errors(data):
    x, speakers, corpora = data
    assert np.array_equal(FeatureNormalizer("none").fit(x).transform(x), x)
    const = np.ones((4, 2))
    np.testing.assert_array_equal(standardize_groups(const, ["a"] * 4), np.zeros((4, 2)))
    np.testing.assert_array_equal(standardize_groups(x[:1], ["solo"]), np.zeros((1, 3)))
    with pytest.raises(SpecError):
        FeatureNormalizer("per_utterance")
    with pytest.raises(SpecError, match="before fit"):
        FeatureNormalizer("global").transform(x)
    with pytest.raises(InvalidInput, match="speaker ids"):
        FeatureNormalizer("per_speaker").fit(x).transform(x)
    with pytest.raises(InvalidInput, match="NaN"):
        FeatureNormalizer("global").fit(np.array([[np.nan, 1.0]]))
    state = FeatureNormalizer("per_corpus").fit(x, corpora).state()
    assert set(state) == {"corpus.c1.mean", "corpus.c1.std"}
