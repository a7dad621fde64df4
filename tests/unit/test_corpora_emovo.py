from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree


def test_emovo_italian_codes(tmp_path):
    write_tree(tmp_path, ["f1/dis-f1-b1.wav", "m2/tri-m2-l3.flac", "m2/gio-m2-n5.wav", "f1/abc-f1-b1.wav"])
    m = load_corpus("emovo", tmp_path)
    got = sorted((i.speaker, i.gender, i.label_original, i.label) for i in m)
    assert got == [("f1", "female", "dis", "disgust"), ("m2", "male", "gio", "happy"), ("m2", "male", "tri", "sad")]
    assert {i.language for i in m} == {"it"}
    assert len(m.unparsed) == 1
