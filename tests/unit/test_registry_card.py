import pytest

from shared.errors import ConfigMismatch, SpecError
from shared.features.config import LogMelConfig
from shared.registry.card import FROM_SCRATCH, ArtifactRef, ModelCard, git_commit
from tests.unit.training_testutil import tiny_model

FEATURES = LogMelConfig().to_dict()


def make_card(**changes) -> ModelCard:
    base = dict(architecture="parry_cnn", labels=("angry", "happy", "neutral", "sad"), feature_config=FEATURES,
                label_map="4class", training_corpora=("ravdess", "tess"), protocol="train ravdess+tess, test savee",
                metrics={"savee": {"uar": 0.41}}, licence="CC BY-NC-SA 4.0 (RAVDESS) carries over",
                side_artifacts={"speaker_pca": ArtifactRef("artifacts/speaker_pca.safetensors", "ab" * 32)})
    return ModelCard(**{**base, **changes})


def test_json_round_trip():
    card = make_card(name="m", version="3", train_seconds=12.5, training={"lr": 0.001})
    back = ModelCard.from_json(card.to_json())
    assert back == card and back.labels == card.labels and back.side_artifacts == card.side_artifacts
    assert back.pretrained == FROM_SCRATCH and back.num_classes == 4 and back.created_at.endswith("+00:00")


def test_feature_hash_matches_the_features_package_and_mismatch_is_refused():
    card = make_card()
    assert card.feature_config_hash == LogMelConfig().hash()
    card.check_feature_config(LogMelConfig().hash())
    other = LogMelConfig(n_mels=LogMelConfig().n_mels + 8).hash()
    with pytest.raises(ConfigMismatch, match=other):
        card.check_feature_config(other)


def test_describe_reads_the_model():
    model = tiny_model(0)
    card = ModelCard.describe(model, architecture="tiny", labels=["a", "b", "c"], feature_config=FEATURES,
                              notes="unit test")
    assert card.num_parameters == sum(p.numel() for p in model.parameters()) == 8 * 16 + 16 + 16 * 3 + 3
    assert card.input_kind == "logmel" and not card.uses_speaker and card.notes == "unit test"
    assert card.git_commit == git_commit() and card.git_commit


def test_invalid_cards_are_refused():
    with pytest.raises(SpecError):
        make_card(labels=("a", "a"))
    with pytest.raises(SpecError, match="bogus"):
        ModelCard.from_dict({**make_card().to_dict(), "bogus": 1})
    with pytest.raises(SpecError):
        ModelCard.from_json("{not json")


def test_git_commit_outside_a_repo_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_uncertain_below_is_read_from_serving_and_checked():
    assert make_card().uncertain_below == 0.0  # no threshold: no segment is ever uncertain
    card = make_card(serving={"runtime": "torch", "uncertain_below": 0.45})
    assert card.uncertain_below == 0.45 and ModelCard.from_json(card.to_json()).uncertain_below == 0.45
    for bad in (1.0, -0.1, float("nan"), "0.4", True, None):
        with pytest.raises(SpecError, match="uncertain_below"):
            make_card(serving={"uncertain_below": bad})
