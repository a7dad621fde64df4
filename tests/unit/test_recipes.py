"""Every shipped recipe validates, names a real architecture, label map and corpus loader."""
from __future__ import annotations

import pytest

from shared.corpora.labels import get_label_map
from shared.corpora.registry import available_corpora
from shared.experiments.spec import load_spec
from shared.models.registry import architectures
from shared.recipes import list_recipes


@pytest.mark.parametrize("path", list_recipes(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_is_valid(path):
    spec = load_spec(path)
    assert spec.model.architecture in architectures()
    get_label_map(spec.label_map)
    assert {c.name for c in spec.corpora} <= set(available_corpora())


def test_there_are_recipes_for_each_speakercct_table():
    names = {p.stem for p in list_recipes() if p.parent.name == "speakercct"}
    assert {"table2_single_corpus", "table3_loco_undersample", "table3_loco_augment", "table4_emodb_loso",
            "table5_loco_3class"} <= names
