import pytest

from shared.corpora import load_corpus
from shared.errors import SpecError
from tests.unit.corpora_testutil import write_tree

EVAL_1 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[4.0000, 3.5000, 3.0000]
[12.0000 - 14.5000]\tSes01F_impro01_M001\tfru\t[2.0000, 3.5000, 3.0000]
"""
EVAL_2 = "[1.0 - 2.5]\tSes01F_script01_1_F002\txxx\t[2.0, 3.0, 3.0]\n"
EVAL_3 = "[0.5 - 1.7]\tSes02M_impro02_F000\tang\t[1.5, 4.0, 4.0]\n"


@pytest.fixture
def root(tmp_path):
    write_tree(
        tmp_path,
        [
            "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav",
            "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.flac",
            "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M009.wav",  # no evaluation
            "Session1/sentences/wav/Ses01F_script01_1/Ses01F_script01_1_F002.wav",
            "Session2/sentences/wav/Ses02M_impro02/Ses02M_impro02_F000.wav",
        ],
    )
    ev1 = tmp_path / "Session1/dialog/EmoEvaluation"
    ev1.mkdir(parents=True)
    (ev1 / "Ses01F_impro01.txt").write_text(EVAL_1)
    (ev1 / "Ses01F_script01_1.txt").write_text(EVAL_2)
    ev2 = tmp_path / "Session2/dialog/EmoEvaluation"
    ev2.mkdir(parents=True)
    (ev2 / "Ses02M_impro02.txt").write_text(EVAL_3)
    return tmp_path


def test_iemocap_items_speakers_and_bookkeeping(root):
    m = load_corpus("iemocap", root)
    got = {i.path.stem: (i.speaker, i.gender, i.label_original, i.label) for i in m}
    assert got == {
        "Ses01F_impro01_F000": ("Ses01F", "female", "neu", "neutral"),
        "Ses01F_impro01_M000": ("Ses01M", "male", "exc", "excited"),
        "Ses01F_script01_1_F002": ("Ses01F", "female", "xxx", None),
        "Ses02M_impro02_F000": ("Ses02F", "female", "ang", "angry"),
    }
    neu = next(i for i in m if i.label == "neutral")
    assert neu.duration_s == pytest.approx(8.2357 - 6.2901, abs=1e-4)
    assert neu.extra["valence"] == 2.5 and neu.extra["improvised"] is True
    assert [u.reason for u in m.unparsed] == ["no EmoEvaluation entry for this utterance"]
    assert m.dropped == {"evaluated utterance without audio file": 1}  # M001 has no wav


@pytest.mark.parametrize(("exc_as", "expected"), [("happy", "happy"), ("drop", None)])
def test_iemocap_exc_is_explicit(root, exc_as, expected):
    m = load_corpus("iemocap", root, exc_as=exc_as)
    exc = [i for i in m if i.label_original == "exc"]
    if expected is None:
        assert exc == [] and m.dropped["exc (exc_as='drop')"] == 1
    else:
        assert [i.label for i in exc] == [expected]


def test_iemocap_sessions_and_kind(root):
    m = load_corpus("iemocap", root, sessions=[1], kind="improvised")
    assert {i.speaker[:5] for i in m} == {"Ses01"}
    assert m.dropped["scripted (kind='improvised')"] == 1
    with pytest.raises(SpecError):
        load_corpus("iemocap", root, sessions=[4])
