from shared.corpora import get_label_map, load_corpus
from tests.unit.corpora_testutil import write_tree

FILES = [
    "Angry/SM1_F1_A01.flac",
    "Angry/SM1_F10_A010.wav",
    "Happy/SF1_F2_H02.flac",  # SF1 is not SM1
    "Happy/SM3_F1_H053.wav",
    "Neutral/SM3_F8_N028.flac",  # the same speaker in another emotion folder
    "Sad/SM6_F4_S0100.flac",
    "Sad/SM6_F5_A0101.flac",  # angry letter in the Sad folder -> unparsed
    "Sad/SM6_F6_X01.wav",  # unknown emotion letter -> unparsed
    "Sad/SX6_F6_S01.wav",  # unknown gender -> unparsed
    "Neutral/SM5-F1-N029.flac",  # wrong separators -> unparsed
]


def test_urdu_labels_speakers_genders_and_bookkeeping(tmp_path):
    m = load_corpus("urdu", write_tree(tmp_path, FILES))
    got = {i.path.name: (i.speaker, i.gender, i.label_original, i.label, i.extra) for i in m}
    assert got == {
        "SM1_F1_A01.flac": ("SM1", "male", "A", "angry", {"file": 1, "number": 1}),
        "SM1_F10_A010.wav": ("SM1", "male", "A", "angry", {"file": 10, "number": 10}),
        "SF1_F2_H02.flac": ("SF1", "female", "H", "happy", {"file": 2, "number": 2}),
        "SM3_F1_H053.wav": ("SM3", "male", "H", "happy", {"file": 1, "number": 53}),
        "SM3_F8_N028.flac": ("SM3", "male", "N", "neutral", {"file": 8, "number": 28}),
        "SM6_F4_S0100.flac": ("SM6", "male", "S", "sad", {"file": 4, "number": 100}),
    }
    assert m.speaker_keys == {"urdu/SM1", "urdu/SF1", "urdu/SM3", "urdu/SM6"}
    assert m.languages == ["ur"] and m.corpora == ["urdu"]
    bad = sorted(u.path.rsplit("/", 1)[1] for u in m.unparsed)
    assert bad == ["SM5-F1-N029.flac", "SM6_F5_A0101.flac", "SM6_F6_X01.wav", "SX6_F6_S01.wav"]
    assert "folder Sad" in next(u.reason for u in m.unparsed if "A0101" in u.path)
    assert not m.dropped


def test_urdu_flat_copy_takes_the_label_from_the_name(tmp_path):
    m = load_corpus("urdu", write_tree(tmp_path, ["SF11_F1_S03.wav", "clips/SM2_F3_A025.flac"]))
    assert sorted((i.speaker, i.label) for i in m) == [("SF11", "sad"), ("SM2", "angry")]
    assert not m.unparsed


def test_urdu_fits_the_4class_map(tmp_path):
    m = load_corpus("urdu", write_tree(tmp_path, FILES[:6]))
    out, dropped = get_label_map("4class").apply(m)
    assert len(out) == len(m) and dropped == {}
