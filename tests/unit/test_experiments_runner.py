"""An experiment spec runs end to end on synthetic corpora in real layouts and learns the task."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from shared.errors import SpecError
from shared.experiments.runner import ExperimentRun, run_experiment
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


# ---------------------------------------------------------------------- other papers' models and protocols
def _corpora(tmp_path, tess_per_class: int = 6, savee_per_class: int = 4):
    return [{"name": "tess", "root": str(make_tess(tmp_path / "TESS", per_class=tess_per_class))},
            {"name": "savee", "root": str(make_savee(tmp_path / "SAVEE", per_class=savee_per_class))}]


FAST = {"optimizer": "adam", "lr": 0.002, "weight_decay": 0.0, "schedule": "constant", "batch_size": 8,
        "early_stopping_patience": None}


def test_pretrain_then_finetune_runs_once_per_experiment_and_is_flagged(tmp_path):
    """VACNN pretrained on TESS under 7 classes, then VACNN+BOVW fine-tuned per SAVEE fold with the
    first VA block frozen; BOVW fitted on each fold's training part; the report sees target labels."""
    spec = load_spec({
        "name": "synthetic fine-tune", "corpora": _corpora(tmp_path, 3, 2), "label_map": "4class",
        "pretrain_label_map": "7class",
        "protocol": {"kind": "pretrain_finetune_kfold", "params": {"source": ["tess"], "target": "savee", "k": 2}},
        "inputs": {"window_s": 1.0, "stride_s": 1.0, "image": {"size": 96, "channels": 1}},
        "model": {"architecture": "vacnn_bovw", "overrides": {"img_size": 96, "vocabulary_size": 8},
                  "pretrain_architecture": "vacnn", "pretrain_overrides": {"img_size": 96}, "freeze": "first_va_block"},
        "bovw": {"k": 8, "max_images": 40},
        "training": {**FAST, "max_epochs": 5}, "pretrain_training": {"max_epochs": 2}, "tsne": False,
    })
    out = tmp_path / "out"
    result = run_experiment(spec, out)
    report = result.report
    assert report.sees_target_labels and report.protocol == "pretrain_finetune_kfold"
    assert report.model == "vacnn_bovw [pretrained vacnn, frozen to first_va_block]"
    pre_dirs = list(out.glob("pretrain_*"))
    assert len(pre_dirs) == 1 and (pre_dirs[0] / "weights.safetensors").exists()  # once, not per fold
    pretraining = report.metadata["pretraining"][0]
    assert len(pretraining["classes"]) == 7 and pretraining["corpora"] == ["tess"]
    assert len(report.folds) == 2
    for fold in report.folds:
        pre = fold.extra["pretrained"]
        assert pre["key"] == pretraining["key"] and pre["frozen_parameters"] > 0
        assert ["classifier.weight", "shape (7, 256) != (4, 256)"] in pre["skipped"]
        assert fold.extra["bovw_vocabulary"]["corpora"] == ["savee"]
        assert fold.split["pretrain"]["per_corpus"] == {"tess": 24} and set(fold.split["test"]["per_corpus"]) == {"savee"}
    assert report.aggregate().pooled.uar > 0.5, report.to_markdown()
    assert "sees target labels" in (out / "report.md").read_text()


def test_parry_cnn_learns_through_the_runner(tmp_path):
    spec = load_spec({
        "name": "synthetic parry", "corpora": _corpora(tmp_path), "label_map": "3class-parry",
        "protocol": {"kind": "cross_corpus", "params": {"train": ["tess"], "test": ["savee"]}},
        "inputs": {"preset": "parry", "window_s": 1.0, "stride_s": 1.0},
        "model": {"architecture": "parry_cnn", "overrides": {"channels": [16, 16]}},
        "training": {**FAST, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "max_epochs": 15},
    })
    result = run_experiment(spec, tmp_path / "out")
    assert result.report.classes == ("negative", "neutral", "positive")
    assert result.report.aggregate().pooled.uar >= 0.8, result.report.to_markdown()
    assert (tmp_path / "out" / "tsne.png").exists()


@pytest.mark.parametrize("epochs,min_uar", [(2, None), pytest.param(8, 0.75, marks=pytest.mark.slow)])
def test_wav2vec2_wccn_runs_on_2s_normalised_waveforms_with_labels(tmp_path, epochs, min_uar):
    """2 epochs: the path works and the loss falls; 8 epochs (slow, ~20 s): it learns the task."""
    from shared.models.wav2vec_wccn import prepare_waveform

    spec = load_spec({
        "name": "synthetic wav2vec2", "corpora": _corpora(tmp_path, 3, 2), "label_map": "4class",
        "protocol": {"kind": "cross_corpus", "params": {"train": ["tess"], "test": ["savee"]}},
        "inputs": {"window_s": 2.0, "stride_s": 2.0},
        "model": {"architecture": "wav2vec2_wccn_tiny", "overrides": {"fc_dim": 16, "dropout": 0.0}},
        "training": {**FAST, "optimizer": "adagrad", "lr": 0.01, "max_epochs": epochs}, "tsne": False,
    })
    run = ExperimentRun(spec, tmp_path / "out")
    assert run.input_config.kind == "waveform" and run.input_config.window_s == 2.0
    clip = np.random.default_rng(0).standard_normal(16000).astype(np.float32)  # 1 s: padded to 2 s
    x = run.builder([clip]).x
    expected = prepare_waveform(torch.from_numpy(clip)[None]).numpy()  # the paper's crop/pad + normalise
    np.testing.assert_allclose(x, expected, atol=1e-4)
    result = run.run()
    history = result.report.folds[0].extra["train"]["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert not torch.equal(run.model.wccn.B, torch.eye(16))  # Deep-WCCN saw labels in training
    if min_uar is not None:
        assert result.report.aggregate().pooled.uar >= min_uar, result.report.to_markdown()


def test_utterance_model_learns_publishes_and_evaluates_from_its_card(tmp_path):
    """The feature-model family through the same runner: functionals + GE2E, per-speaker statistics."""
    spec = _spec(tmp_path, inputs={"utterance": {"feature_set": "egemaps", "trim": "none"}},
                 model={"architecture": "utterance_mlp", "overrides": {"view": "both", "shrink": 4.0, "speaker_dim": 8}},
                 training={"optimizer": "adamw", "lr": 0.01, "schedule": "constant", "max_epochs": 40, "batch_size": 16,
                           "early_stopping_patience": None, "amp": False},
                 publish={"name": "utt"})
    registry = tmp_path / "registry"
    result = run_experiment(spec, tmp_path / "out", registry_root=registry, feature_cache=tmp_path / "cache")
    assert result.report.aggregate().pooled.uar >= 0.75, result.report.to_markdown()
    card = ModelRegistry(registry).card("utt")
    assert card.input_kind == "functionals" and card.training["speaker_encoder"] == "ge2e"
    model, _ = ModelRegistry(registry).load("utt")
    model.check_fitted()  # the pool statistics travel with the weights
    savee = [c for c in spec.model_dump(mode="json")["corpora"] if c["name"] == "savee"]
    eval_spec = {"name": "eval", "evaluate_model": "utt", "corpora": savee, "protocol": {"kind": "test_only"}}
    again = run_experiment(load_spec(eval_spec), tmp_path / "eval", registry_root=registry, evaluate_only=True,
                           feature_cache=tmp_path / "cache")  # model, inputs, normalisation, labels: from the card
    assert again.report.aggregate().pooled.uar == pytest.approx(result.report.aggregate().pooled.uar)
    with pytest.raises(SpecError, match="evaluation follows the card"):
        ExperimentRun(load_spec({**eval_spec, "normalization": "none"}), tmp_path / "e2", registry_root=registry,
                      evaluate_only=True)
    with pytest.raises(SpecError, match="model is required"):
        load_spec({**eval_spec, "evaluate_model": None})
