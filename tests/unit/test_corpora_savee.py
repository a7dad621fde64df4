from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree


def test_savee_flat_and_original_layouts(tmp_path):
    write_tree(
        tmp_path,
        ["DC_a01.wav", "JE_sa02.flac", "KL_su15.wav", "AudioData/DC/n01.wav", "AudioData/JK/su03.wav", "DC_x01.wav"],
    )
    m = load_corpus("savee", tmp_path)
    got = sorted((i.speaker, i.label_original, i.label, i.extra["sentence"]) for i in m)
    assert got == [
        ("DC", "a", "angry", 1),
        ("DC", "n", "neutral", 1),
        ("JE", "sa", "sad", 2),
        ("JK", "su", "surprise", 3),
        ("KL", "su", "surprise", 15),
    ]
    assert {i.gender for i in m} == {"male"}
    assert len(m.unparsed) == 1 and m.unparsed[0].path.endswith("DC_x01.wav")
