"""An experiment spec runs end to end on synthetic corpora in real layouts and learns the task."""
from __future__ import annotations

import json

import pytest

from shared.errors import SpecError
from shared.experiments.runner import run_experiment
from shared.experiments.spec import load_spec, parse_overrides
from shared.registry.store import ModelRegistry
from tests.synthetic import make_savee, make_tess


def _spec(tmp_path, **changes):
    base = {
        "name": "synthetic cross-corpus",
        "corpora": [{"name": "tess", "root": str(make_tess(tmp_path / "TESS"))},
                    {"name": "savee", "root": str(make_savee(tmp_path / "SAVEE"))},
                    {"name": "ravdess", "root": str(tmp_path / "absent")}],
        "label_map": "4class",
        "protocol": {"kind": "cross_corpus", "params": {"train": ["tess", "ravdess"], "test": ["savee"]}},
        "inputs": {"window_s": 1.0, "stride_s": 0.5, "image": {"size": 48, "channels": 1}},
        "model": {"architecture": "cct_tiny", "overrides": {"in_chans": 1, "img_size": 48}},
        "training": {"optimizer": "adam", "lr": 0.002, "weight_decay": 0.0, "schedule": "constant", "max_epochs": 25,
                     "batch_size": 8, "early_stopping_patience": None},
        "normalization": "per_speaker",
    }
    base.update(changes)
    return load_spec(base)


def test_cross_corpus_run_learns_writes_report_publishes_and_evaluates(tmp_path):
    spec = _spec(tmp_path, publish={"name": "synthetic"})
    registry = tmp_path / "registry"
    result = run_experiment(spec, tmp_path / "out", registry_root=registry)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["metadata"]["missing_corpora"] == ["ravdess"]
    assert report["folds"][0]["split"]["test"]["per_corpus"] == {"savee": 64}
    assert result.report.aggregate().pooled.uar >= 0.75, result.report.to_markdown()
    assert (tmp_path / "out" / "report.md").exists() and (tmp_path / "out" / "confusion_pooled.png").exists()

    assert result.model_ref == ("synthetic", "1")
    card = ModelRegistry(registry).card("synthetic")
    assert card.training["normalization"] == "per_speaker" and "non-commercial" in card.licence
    assert card.metrics["pooled"]["uar"] == round(result.report.aggregate().pooled.uar, 4)
    again = run_experiment(load_spec({**spec.model_dump(mode="json"), "evaluate_model": "synthetic"}),
                           tmp_path / "eval", registry_root=registry, evaluate_only=True)
    assert again.report.aggregate().pooled.uar == pytest.approx(result.report.aggregate().pooled.uar)


def test_bad_specs_fail_before_training(tmp_path):
    with pytest.raises(SpecError, match="unknown architecture"):
        run_experiment(_spec(tmp_path, model={"architecture": "cct_99"}), tmp_path / "o1")
    with pytest.raises(SpecError, match="protocol"):
        load_spec({"name": "x", "corpora": [{"name": "savee", "root": "/x"}], "protocol": {"kind": "lopo"},
                   "model": {"architecture": "cct_tiny"}})
    with pytest.raises(SpecError, match="optimiser"):
        run_experiment(_spec(tmp_path, training={"optimiser": "adam"}), tmp_path / "o2")


def test_overrides_parse_nested_values():
    assert parse_overrides(["training.max_epochs=2", "seed=3", "inputs.image.size=64"]) == {
        "training": {"max_epochs": 2}, "seed": 3, "inputs": {"image": {"size": 64}}}
