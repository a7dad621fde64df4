"""Classical baselines run from a spec: functionals (cached) + RF / logreg / WCCN-logreg."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.corpora.items import CorpusItem, Manifest
from shared.errors import SpecError
from shared.evaluation.baseline import BaselineConfig
from shared.experiments.baselines import BaselineName, WccnLinear
from shared.experiments.runner import ExperimentRun
from shared.experiments.spec import load_spec
from tests.synthetic import make_savee, make_tess


def _spec(tmp_path, architecture, **changes):
    return load_spec({
        "name": f"synthetic {architecture}",
        "corpora": [{"name": "tess", "root": str(make_tess(tmp_path / "TESS", per_class=3))},
                    {"name": "savee", "root": str(make_savee(tmp_path / "SAVEE", per_class=2))}],
        "protocol": {"kind": "cross_corpus", "params": {"train": ["tess"], "test": ["savee"]}},
        "model": {"architecture": architecture}, "normalization": "per_speaker", **changes,
    })


def test_egemaps_random_forest_spec_runs_learns_and_caches_features(tmp_path):
    spec = _spec(tmp_path, "baseline:egemaps+random_forest")
    result = ExperimentRun(spec, tmp_path / "out", feature_cache=tmp_path / "cache").run()
    report = result.report
    assert report.model == "egemaps+random_forest" and report.params is None
    assert report.metadata["feature_dim"] == 88
    assert report.metadata["baseline_config"]["n_estimators"] == 100
    assert report.metadata["baseline_config"]["max_depth"] == 5
    assert report.metadata["feature_cache"] == {"hits": 0, "misses": 56}
    assert report.aggregate().pooled.uar >= 0.75, report.to_markdown()
    assert (tmp_path / "out" / "report.json").exists()
    again = ExperimentRun(_spec(tmp_path, "baseline:egemaps+wccn_logreg"), tmp_path / "out2",
                          feature_cache=tmp_path / "cache").run()
    assert again.report.metadata["feature_cache"] == {"hits": 56, "misses": 0}
    assert again.report.aggregate().pooled.uar >= 0.75, again.report.to_markdown()


def test_bad_baseline_names_and_overrides_fail_up_front(tmp_path):
    with pytest.raises(SpecError, match="FEATURES\\+CLASSIFIER"):
        BaselineName.parse("baseline:mfcc+svm")
    with pytest.raises(SpecError, match="unknown baseline overrides"):
        ExperimentRun(_spec(tmp_path, "", model={"architecture": "baseline:egemaps+logreg",
                                                 "overrides": {"trees": 5}}), tmp_path / "o")
    with pytest.raises(SpecError, match="published"):
        ExperimentRun(_spec(tmp_path, "baseline:egemaps+logreg", publish={"name": "x"}), tmp_path / "o")


def test_wccn_on_the_linear_path_whitens_within_class_scatter():
    """A dimension where classes scatter widely (noise) and one where they are tight (signal):
    after the WCCN projection the within-class covariance of the training data is the identity."""
    rng = np.random.default_rng(0)
    n = 200
    y = np.repeat(["a", "b"], n // 2)
    x = np.stack([rng.normal(0, 10, n), (y == "a") * 1.0 + rng.normal(0, 0.3, n)], axis=1)
    items = [CorpusItem(path=Path(f"/x/{i}.wav"), corpus="c", language="en", speaker="s", gender=None,
                        label_original=str(lab), label=str(lab)) for i, lab in enumerate(y)]
    manifest = Manifest(tuple(items))
    model = WccnLinear(BaselineConfig(classifier="logreg", normalization="none")).fit_manifest(x, manifest)
    z = x @ model.B
    within = np.mean([np.cov(z[y == c], rowvar=False) for c in ("a", "b")], axis=0)
    np.testing.assert_allclose(within, np.eye(2), atol=1e-4)
    assert (model.predict_manifest(x, manifest) == y).mean() > 0.9
