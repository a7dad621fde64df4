from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree

FILES = ["DEMOS/PR_f_01_rab01.wav", "DEMOS/NP_m_02_col03.flac", "NEU/f_01_neu01.wav", "DEMOS/XX_f_01_rab01.wav", "DEMOS/PR_f_01_zzz01.wav"]


def test_demos_documented_naming(tmp_path):
    m = load_corpus("demos", write_tree(tmp_path, FILES))
    got = sorted((i.speaker, i.gender, i.label, i.extra["typicality"]) for i in m)
    assert got == [("01", "female", "angry", "PR"), ("01", "female", "neutral", None), ("02", "male", "guilt", "NP")]
    assert len(m.unparsed) == 2


def test_demos_prototypical_only(tmp_path):
    m = load_corpus("demos", write_tree(tmp_path, FILES), include_np=False)
    assert m.counts("label") == {"angry": 1, "neutral": 1}
    assert m.dropped == {"non-prototypical (include_np=False)": 1}
