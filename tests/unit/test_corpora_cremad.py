from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree

FILES = ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.flac", "AudioWAV/1001_DFA_XYZ_XX.wav"]


def test_cremad_with_demographics(tmp_path):
    write_tree(tmp_path, FILES)
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n")
    m = load_corpus("crema-d", tmp_path)
    got = sorted((i.speaker, i.gender, i.label, i.extra["level"]) for i in m)
    assert got == [("1001", "male", "angry", "XX"), ("1002", "female", "happy", "HI")]
    assert len(m.unparsed) == 1 and "XYZ" in m.unparsed[0].reason


def test_cremad_without_demographics_leaves_gender_unknown(tmp_path):
    write_tree(tmp_path, FILES[:2])
    m = load_corpus("cremad", tmp_path)  # alias
    assert [i.gender for i in m] == [None, None]
    assert {i.corpus for i in m} == {"crema-d"}
