from __future__ import annotations

import json

import torch

from shared.registry.bundled import bundle, seed_registry
from shared.registry.card import ModelCard
from shared.registry.store import ModelRegistry


def _publish(root, name="m"):
    registry = ModelRegistry(root)
    model = torch.nn.Linear(2, 2)
    card = ModelCard(architecture="parry_cnn", labels=("a", "b"), feature_config={"kind": "logmel"})
    registry.publish(model, card, name=name, alias="default")
    return registry


def test_bundle_then_seed_copies_only_what_is_missing(tmp_path):
    source = _publish(tmp_path / "src")
    bundled = tmp_path / "bundled"
    bundle(source, "m", "default", bundled, as_name="default")
    assert json.loads((bundled / "default" / "aliases.json").read_text()) == {"default": "1"}
    live = tmp_path / "live"
    assert seed_registry(live, bundled) == ["default:1"]
    assert ModelRegistry(live).resolve("default")[0] == "1"
    assert seed_registry(live, bundled) == []


def test_seed_never_overwrites_user_aliases(tmp_path):
    bundled = tmp_path / "bundled"
    bundle(_publish(tmp_path / "src"), "m", "1", bundled)
    live = tmp_path / "live"
    seed_registry(live, bundled)
    (live / "m" / "aliases.json").write_text('{"default": "1", "staging": "1"}')
    seed_registry(live, bundled)
    assert json.loads((live / "m" / "aliases.json").read_text())["staging"] == "1"
