import json
import os

import pytest
import torch

from shared.errors import ConfigMismatch, NotFound, SpecError
from shared.features.config import LogMelConfig
from shared.models.registry import build_model
from shared.registry import ModelCard, ModelRegistry

OVERRIDES = {"embed_dim": 32, "num_heads": 2}
LABELS = ("angry", "happy", "neutral", "sad")


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("cct_2_3x2_32", len(LABELS), **OVERRIDES).eval()


def card_for(model) -> ModelCard:
    return ModelCard.describe(model, architecture="cct_2_3x2_32", labels=LABELS, model_config=OVERRIDES,
                              feature_config=LogMelConfig().to_dict(), label_map="4class")


@pytest.fixture
def registry(tmp_path):
    return ModelRegistry(tmp_path / "models")


def test_publish_load_round_trip(registry):
    model = small_model()
    ref = registry.publish(model, card_for(model), name="ser", alias="default")
    assert (ref.name, ref.version) == ("ser", "1") and (ref.path / "model.safetensors").is_file()
    loaded, card = registry.load("ser")
    assert (card.name, card.version, card.labels) == ("ser", "1", LABELS)
    assert card.num_parameters == sum(p.numel() for p in loaded.parameters())
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    card.check_feature_config(LogMelConfig().hash())
    with pytest.raises(ConfigMismatch):
        card.check_feature_config("0" * 16)


def test_versions_aliases_resolve_and_list(registry):
    for seed in range(3):
        registry.publish(small_model(seed), card_for(small_model(seed)), name="ser")
    registry.publish(small_model(), card_for(small_model()), name="other", version="2024a")
    assert registry.versions("ser") == ["1", "2", "3"]
    registry.promote("ser", "2")
    registry.promote("ser", "3", alias="staging")
    assert registry.resolve("ser") == ("2", registry.root / "ser" / "2")
    assert registry.resolve("ser", "staging")[0] == "3" and registry.resolve("ser", "1")[0] == "1"
    registry.promote("ser", "staging")  # an alias can be promoted by alias
    assert registry.aliases("ser") == {"default": "3", "staging": "3"}
    entries = {(e.name, e.version): e.aliases for e in registry.list()}
    assert entries == {("other", "2024a"): (), ("ser", "1"): (), ("ser", "2"): (), ("ser", "3"): ("default", "staging")}
    assert json.loads((registry.root / "ser" / "aliases.json").read_text()) == {"default": "3", "staging": "3"}


def test_not_found_messages_name_what_exists(registry):
    with pytest.raises(NotFound, match="no model named 'ser'"):
        registry.resolve("ser")
    registry.publish(small_model(), card_for(small_model()), name="ser")
    with pytest.raises(NotFound, match=r"no version or alias 'default'.*versions: \['1'\]"):
        registry.load("ser")
    with pytest.raises(NotFound, match="'7'"):
        registry.promote("ser", "7")
    (registry.root / "ser" / "aliases.json").write_text('{"default": "9"}')
    with pytest.raises(NotFound, match="missing version '9'"):
        registry.resolve("ser")


def test_refusals(registry):
    registry.publish(small_model(), card_for(small_model()), name="ser", version="1")
    with pytest.raises(SpecError, match="immutable"):
        registry.publish(small_model(), card_for(small_model()), name="ser", version="1")
    with pytest.raises(SpecError):
        registry.publish(small_model(), card_for(small_model()), name="../evil")
    with pytest.raises(SpecError, match="shadow"):
        registry.promote("ser", "1", alias="5")
    assert not [p for p in (registry.root / "ser").iterdir() if p.name.startswith(".publish")]


def test_promote_is_atomic(registry, monkeypatch):
    for _ in range(2):
        registry.publish(small_model(), card_for(small_model()), name="ser")
    registry.promote("ser", "1")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        registry.promote("ser", "2")
    monkeypatch.undo()
    assert registry.resolve("ser")[0] == "1"  # the old alias file is intact
    assert sorted(p.name for p in (registry.root / "ser").iterdir() if p.is_file()) == [".lock", "aliases.json"]


def test_fingerprint_changes_on_publish_and_promote_only(registry):
    empty = registry.fingerprint()
    registry.publish(small_model(), card_for(small_model()), name="ser")
    published = registry.fingerprint()
    assert published != empty and registry.fingerprint() == published
    registry.load("ser", "1")
    assert registry.fingerprint() == published
    registry.promote("ser", "1")
    promoted = registry.fingerprint()
    registry.publish(small_model(), card_for(small_model()), name="ser")
    assert len({empty, published, promoted, registry.fingerprint()}) == 4


def test_side_artifacts_are_copied_and_hashed(registry, tmp_path):
    pca = tmp_path / "pca.safetensors"
    pca.write_bytes(b"pca-bytes")
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "centers.npy").write_bytes(b"centers")
    ref = registry.publish(small_model(), card_for(small_model()), name="ser",
                           artifacts={"speaker_pca": pca, "bovw_vocabulary": vocab})
    card = registry.card("ser", ref.version)
    path = registry.artifact_path("ser", "1", "speaker_pca")
    assert path.read_bytes() == b"pca-bytes" and path.is_relative_to(ref.path)
    assert card.side_artifacts["speaker_pca"].sha256 == __import__("hashlib").sha256(b"pca-bytes").hexdigest()
    assert (registry.artifact_path("ser", "1", "bovw_vocabulary") / "centers.npy").read_bytes() == b"centers"
    with pytest.raises(NotFound, match="normalization"):
        registry.artifact_path("ser", "1", "normalization")
