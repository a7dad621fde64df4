from pathlib import Path

import pytest

from shared.corpora.items import CorpusItem, Manifest
from shared.corpora.labels import (
    CANONICAL_LABELS,
    NAMED_LABEL_MAPS,
    LabelMap,
    canonical_label,
    get_label_map,
    valence_arousal,
)
from shared.errors import SpecError


def make(labels):
    return Manifest(
        tuple(
            CorpusItem(Path(f"/x/{k}.wav"), "c", "en", f"s{k % 2}", None, str(lab), lab)
            for k, lab in enumerate(labels)
        )
    )


def test_named_maps_exist_and_are_valid():
    assert set(NAMED_LABEL_MAPS) == {
        "4class", "4class-calm-as-neutral", "3class-parry", "3class-speakercct", "7class", "6class-emodb-loso"
    }
    assert get_label_map("4class").classes == ("angry", "happy", "sad", "neutral")
    assert get_label_map("6class-emodb-loso").num_classes == 6
    assert "boredom" not in get_label_map("6class-emodb-loso").mapping


def test_boredom_differs_between_the_papers():
    assert get_label_map("3class-parry").map_label("boredom") == "neutral"
    assert get_label_map("3class-speakercct").map_label("boredom") == "negative"
    assert get_label_map("3class-parry").map_label("calm") == "neutral"
    assert get_label_map("3class-parry").map_label("interest") == "neutral"
    assert get_label_map("3class-speakercct").map_label("calm") is None


def test_calm_is_neutral_only_in_the_maps_that_say_so():
    assert get_label_map("4class").map_label("calm") is None
    calm_neutral = get_label_map("4class-calm-as-neutral")
    assert calm_neutral.classes == get_label_map("4class").classes
    assert calm_neutral.map_label("calm") == "neutral" and calm_neutral.map_label("neutral") == "neutral"
    assert calm_neutral.map_label("excited") is None
    assert [m.name for m in NAMED_LABEL_MAPS.values() if m.map_label("calm") == "neutral"] == [
        "4class-calm-as-neutral", "3class-parry"
    ]


def test_apply_drops_and_counts_never_relabels():
    m = make(["angry", "calm", "happy", "surprise", "surprise", None, "neutral"])
    out, dropped = get_label_map("4class").apply(m)
    assert [i.label for i in out] == ["angry", "happy", "neutral"]
    assert dropped == {"<unlabelled>:None": 1, "calm": 1, "surprise": 2}
    assert out.classes == ("angry", "happy", "sad", "neutral")
    assert out[0].extra["canonical_label"] == "angry"
    three, _ = get_label_map("3class-parry").apply(m)
    assert [i.label for i in three] == ["negative", "neutral", "positive", "positive", "positive", "neutral"]
    assert three[0].extra["canonical_label"] == "angry"
    with pytest.raises(SpecError, match="already mapped"):
        get_label_map("7class").apply(out)


def test_validation_rejects_typos():
    with pytest.raises(SpecError, match="did you mean 'angry'"):
        LabelMap("x", {"angyr": "a"}, ("a",))
    with pytest.raises(SpecError, match="not among its classes"):
        LabelMap("x", {"angry": "negativ"}, ("negative",))
    with pytest.raises(SpecError, match="receive no label"):
        LabelMap("x", {"angry": "negative"}, ("negative", "positive"))
    with pytest.raises(SpecError, match="did you mean '4class'"):
        get_label_map("4-class")


def test_from_dict_roundtrip_and_synonyms():
    m = get_label_map("3class-speakercct")
    assert LabelMap.from_dict(m.to_dict()) == m
    assert canonical_label(" Anger ") == "angry" and canonical_label("ps") == "surprise"
    assert canonical_label("sarcasm") is None


def test_valence_arousal_covers_every_canonical_label():
    for label in CANONICAL_LABELS:
        v, a = valence_arousal(label)
        assert -1 <= v <= 1 and -1 <= a <= 1
    assert valence_arousal("happy")[0] > 0 > valence_arousal("sad")[0]
    assert valence_arousal("angry")[1] > 0 > valence_arousal("boredom")[1]
    with pytest.raises(SpecError):
        valence_arousal("nope")


def test_expected_valence_arousal_is_posterior_weighted():
    from shared.corpora.labels import expected_valence_arousal

    v, a = expected_valence_arousal({"angry": 0.5, "neutral": 0.5})
    assert (v, a) == pytest.approx((-0.3, 0.4))  # half of angry's (-0.6, 0.8)
    with pytest.raises(SpecError):
        expected_valence_arousal({"angry": 0.0})
