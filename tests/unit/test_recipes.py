"""Every shipped recipe validates, names a real architecture (or baseline), label map and corpus loader."""
from __future__ import annotations

import pytest

from shared.corpora.labels import get_label_map
from shared.corpora.registry import available_corpora
from shared.experiments.baselines import BaselineName
from shared.experiments.runner import ExperimentRun
from shared.experiments.spec import load_spec
from shared.models.registry import architectures
from shared.recipes import list_recipes


@pytest.mark.parametrize("path", list_recipes(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_is_valid(path, tmp_path):
    spec = load_spec(path)
    if spec.is_baseline:
        BaselineName.parse(spec.model.architecture)
    else:
        assert spec.model.architecture in architectures()
        ExperimentRun(spec, tmp_path)  # input config, train configs, pretraining and freeze method all fit
    get_label_map(spec.label_map)
    get_label_map(spec.pretrain_label_map or spec.label_map)
    assert {c.name for c in spec.corpora} <= set(available_corpora())


def _names(folder: str) -> set[str]:
    return {p.stem for p in list_recipes() if p.parent.name == folder}


def test_there_are_recipes_for_each_paper_table():
    assert {"table2_single_corpus", "table3_loco_undersample", "table3_loco_augment", "table4_emodb_loso",
            "table5_loco_3class"} <= _names("speakercct")
    assert {"table3_pure_vacnn_bovw", "table3_finetuned", "table3_finetuned_cbam"} <= _names("vacnn")
    assert {"table2_single_corpus", "table3_aggregate_unseen"} <= _names("parry")
    assert {"lolo_wccn", "lolo_egemaps_rf", "lolo_wccn_linear"} <= _names("wav2vec")


def test_vacnn_recipes_pretrain_on_tess_ravdess_with_7_classes_and_calm_as_neutral():
    spec = load_spec(next(p for p in list_recipes() if p.parent.name == "vacnn" and p.stem == "table3_finetuned"))
    assert spec.pretrain_label_map == "7class" and spec.model.freeze == "first_va_block"
    assert sorted(spec.protocol.params["source"]) == ["ravdess", "tess"]
    assert next(c for c in spec.corpora if c.name == "ravdess").options == {"calm_as": "neutral"}
