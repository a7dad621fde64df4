import pytest

from shared.corpora import load_corpus
from shared.errors import SpecError
from tests.unit.corpora_testutil import write_tree

FILES = [
    "Actor_01/03-01-01-01-01-01-01.wav",  # neutral, male
    "Actor_01/03-01-02-02-01-02-01.flac",  # calm, strong
    "Actor_02/03-01-05-02-02-02-02.wav",  # angry, female
    "Actor_02/03-02-05-01-01-01-02.wav",  # song -> dropped
    "Actor_02/03-01-05-02-02-02-03.wav",  # actor 03 inside Actor_02 -> unparsed
    "Actor_02/03-01-09-01-01-01-02.wav",  # emotion 09 -> unparsed
]


@pytest.fixture
def root(tmp_path):
    return write_tree(tmp_path, FILES)


def test_ravdess_fields_and_bookkeeping(root):
    m = load_corpus("ravdess", root)
    assert len(m) == 3
    assert m.counts("label") == {"angry": 1, "calm": 1, "neutral": 1}
    angry = next(i for i in m if i.label == "angry")
    assert (angry.speaker, angry.gender, angry.label_original) == ("02", "female", "05")
    assert angry.extra == {"intensity": 2, "statement": 2, "repetition": 2}
    assert next(i for i in m if i.label == "neutral").gender == "male"
    assert m.dropped == {"vocal channel 02 (song)": 1}
    assert len(m.unparsed) == 2


@pytest.mark.parametrize(
    ("calm_as", "labels", "dropped"),
    [
        ("neutral", {"angry": 1, "neutral": 2}, 0),
        ("drop", {"angry": 1, "neutral": 1}, 1),
    ],
)
def test_ravdess_calm_is_an_explicit_choice(root, calm_as, labels, dropped):
    m = load_corpus("ravdess", root, calm_as=calm_as)
    assert m.counts("label") == labels
    assert m.dropped.get("calm (calm_as='drop')", 0) == dropped
    calm_item = [i for i in m if i.label_original == "02"]
    assert all(i.label == "neutral" for i in calm_item)


def test_ravdess_rejects_unknown_calm_option(root):
    with pytest.raises(SpecError, match="calm_as"):
        load_corpus("ravdess", root, calm_as="happy")
