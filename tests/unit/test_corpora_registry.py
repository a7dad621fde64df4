import pytest

from shared.corpora import available_corpora, load_corpora, load_corpus
from shared.corpora.registry import loader_options
from shared.errors import InvalidInput, NotFound, SpecError
from tests.unit.corpora_testutil import write_tree


def test_registry_lists_every_corpus():
    assert available_corpora() == sorted(
        ["emodb", "ravdess", "tess", "savee", "crema-d", "emovo", "iemocap", "demos", "esd", "urdu", "turevdb", "csv"]
    )
    assert loader_options("ravdess") == {"calm_as": "calm"}
    assert loader_options("urdu") == {} and loader_options("TurEV-DB") == {}


def test_unknown_corpus_and_option_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="unknown corpus"):
        load_corpus("emodbb", tmp_path)
    with pytest.raises(SpecError, match="calm_ass"):
        load_corpus("ravdess", tmp_path, calm_ass="drop")
    with pytest.raises(NotFound):
        load_corpus("savee", tmp_path / "nope")


def test_strict_mode_and_concat(tmp_path):
    write_tree(tmp_path / "savee", ["DC_a01.wav", "bad.wav"])
    write_tree(tmp_path / "tess", ["OAF_angry/OAF_back_angry.wav", "OAF_angry/._OAF_back_angry.wav"])
    with pytest.raises(InvalidInput, match="1 unparseable"):
        load_corpus("savee", tmp_path / "savee", strict=True)
    m = load_corpora([{"name": "savee", "root": tmp_path / "savee"}, {"name": "tess", "root": tmp_path / "tess"}])
    assert m.counts("corpus") == {"savee": 1, "tess": 1}
    assert len(m.unparsed) == 1
    assert m.dropped == {"hidden file (name starts with '.')": 1}
