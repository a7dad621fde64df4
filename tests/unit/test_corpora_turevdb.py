import pytest

from shared.corpora import get_label_map, load_corpus
from shared.corpora.registry import loader_options
from tests.unit.corpora_testutil import write_tree

FILES = [
    "Angry/1157_kz_acik.flac",
    "Happy/1234_mt_cay.wav",
    "Calm/1358_sk_ogul1.flac",  # a word with a digit, as in the corpus
    "Sad/7895_hl_beste.wav",
    "Calm/6783_sk_demet.wav",
    "Calm/1984_kz_algi.flac",  # angry code in the Calm folder -> unparsed
    "Sad/1984_xx_algi.wav",  # unknown code -> unparsed
    "Sad/1111_hl_algi.wav",  # unknown speaker -> unparsed
    "Sad/1984-hl-algi.flac",  # wrong separators -> unparsed
]


@pytest.fixture
def root(tmp_path):
    return write_tree(tmp_path, FILES)


def test_turevdb_labels_speakers_and_bookkeeping(root):
    m = load_corpus("turevdb", root)
    got = {i.path.name: (i.speaker, i.label_original, i.label, i.extra["word"]) for i in m}
    assert got == {
        "1157_kz_acik.flac": ("1157", "kz", "angry", "acik"),
        "1234_mt_cay.wav": ("1234", "mt", "happy", "cay"),
        "1358_sk_ogul1.flac": ("1358", "sk", "calm", "ogul1"),
        "7895_hl_beste.wav": ("7895", "hl", "sad", "beste"),
        "6783_sk_demet.wav": ("6783", "sk", "calm", "demet"),
    }
    assert {i.gender for i in m} == {None} and m.languages == ["tr"] and m.corpora == ["turevdb"]
    assert "turevdb/1157" in m.speaker_keys
    bad = sorted(u.path.rsplit("/", 1)[1] for u in m.unparsed)
    assert bad == ["1111_hl_algi.wav", "1984-hl-algi.flac", "1984_kz_algi.flac", "1984_xx_algi.wav"]
    assert "folder Calm" in next(u.reason for u in m.unparsed if "kz_algi" in u.path)
    assert not m.dropped


def test_turevdb_calm_is_never_neutral_unless_a_named_map_says_so(root):
    m = load_corpus("turev-db", root)  # alias
    assert loader_options("turevdb") == {}  # no load-time calm option: the label map decides
    assert "neutral" not in m.labels
    four, dropped = get_label_map("4class").apply(m)
    assert four.counts("label") == {"angry": 1, "happy": 1, "sad": 1}
    assert dropped == {"calm": 2}
    merged, dropped = get_label_map("4class-calm-as-neutral").apply(m)
    assert merged.counts("label") == {"angry": 1, "happy": 1, "neutral": 2, "sad": 1}
    assert dropped == {}
    assert {i.extra["canonical_label"] for i in merged if i.label == "neutral"} == {"calm"}
    assert merged.classes == four.classes == ("angry", "happy", "sad", "neutral")
