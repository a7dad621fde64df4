"""The classical baseline learns a task where speaker offsets swamp the emotion cue unless normalised."""
from pathlib import Path

import numpy as np
import pytest

from shared.corpora.items import CorpusItem, Manifest
from shared.errors import InvalidInput, SpecError
from shared.evaluation.baseline import BaselineConfig, ClassicalBaseline, evaluate_split, run_baseline
from shared.evaluation.protocols import cross_corpus, pretrain_finetune_kfold

CLASSES = ("angry", "happy", "sad", "neutral")


@pytest.fixture(scope="module")
def task():
    """3 corpora x 6 speakers x 4 classes x 5 items; 8-dim features.

    Each speaker adds a large random offset and scale; each class a small shift of size 1.5 on its own
    dimension. Without per-speaker normalisation the offsets (std 6) hide the class shift.
    """
    rng = np.random.default_rng(0)
    items, rows = [], []
    for c in ("c1", "c2", "c3"):
        corpus_offset = rng.normal(0, 4, 8)
        for s in range(6):
            offset, scale = corpus_offset + rng.normal(0, 6, 8), rng.uniform(0.5, 2.0)
            for k, label in enumerate(CLASSES):
                for j in range(5):
                    shift = np.zeros(8)
                    shift[k] = 1.5
                    rows.append(offset + scale * (shift + rng.normal(0, 0.3, 8)))
                    items.append(CorpusItem(Path(f"/{c}/{s}/{label}{j}.wav"), c, "en", f"s{s}", None, label, label))
    manifest = Manifest(tuple(items), classes=CLASSES)
    features = {i.key: r for i, r in zip(manifest, rows, strict=True)}
    return manifest, features


def test_per_speaker_normalisation_beats_none_cross_corpus(task):
    manifest, features = task
    split = cross_corpus(manifest, ["c1", "c2"], ["c3"])[0]
    uar = {
        mode: evaluate_split(split, features, BaselineConfig("logreg", mode), CLASSES).uar
        for mode in ("none", "per_corpus", "per_speaker")
    }
    assert uar["per_speaker"] > 0.9
    assert uar["none"] < 0.6
    assert uar["per_speaker"] > uar["per_corpus"] > uar["none"] - 0.05


def test_random_forest_variant_and_report(task):
    manifest, features = task
    cfg = BaselineConfig("random_forest", "per_speaker")
    model = ClassicalBaseline(cfg)
    assert (model.model.n_estimators, model.model.max_depth) == (100, 5)
    splits = cross_corpus(manifest, ["c1", "c2"], ["c3"])
    report = run_baseline(splits, features, cfg, CLASSES, feature_name="synthetic")
    assert report.model == "synthetic+random_forest[per_speaker]"
    assert report.aggregate().summary["uar"].mean > 0.85
    assert report.metadata["baseline_config"]["max_depth"] == 5


def test_pretrain_finetune_trains_on_source_and_target_folds(task):
    manifest, features = task
    split = pretrain_finetune_kfold(manifest, ["c1"], "c3", k=3)[0]
    m = evaluate_split(split, features, BaselineConfig("logreg", "per_speaker"), CLASSES)
    assert m.n == len(split.test) and m.uar > 0.9


def test_feature_lookup_errors_and_config_validation(task):
    manifest, features = task
    split = cross_corpus(manifest, ["c1"], ["c2"])[0]
    with pytest.raises(InvalidInput, match="no features"):
        evaluate_split(split, {}, BaselineConfig(), CLASSES)
    with pytest.raises(InvalidInput, match="feature rows"):
        evaluate_split(split, lambda m: np.zeros((1, 8)), BaselineConfig(), CLASSES)
    with pytest.raises(SpecError):
        BaselineConfig(classifier="svm")
    with pytest.raises(SpecError):
        BaselineConfig(normalization="per_call")
