from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree


def test_tess_labels_from_file_names_and_speaker_fallback(tmp_path):
    write_tree(
        tmp_path,
        [
            "OAF_angry/OAF_back_angry.wav",
            "OAF_Pleasant_surprise/OAF_bar_ps.flac",
            "OAF_neutral/OA_bite_neutral.wav",  # damaged prefix in the original corpus
            "YAF_sad/YAF_dog_sad.wav",
            "YAF_sad/YAF_dog_bored.wav",
        ],
    )
    m = load_corpus("tess", tmp_path)
    got = {i.path.name: (i.speaker, i.label_original, i.label) for i in m}
    assert got == {
        "OAF_back_angry.wav": ("OAF", "angry", "angry"),
        "OAF_bar_ps.flac": ("OAF", "ps", "surprise"),
        "OA_bite_neutral.wav": ("OAF", "neutral", "neutral"),
        "YAF_dog_sad.wav": ("YAF", "sad", "sad"),
    }
    assert {i.gender for i in m} == {"female"} and {i.language for i in m} == {"en"}
    assert [u.path.endswith("YAF_dog_bored.wav") for u in m.unparsed] == [True]
