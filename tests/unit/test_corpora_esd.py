from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree


def test_esd_languages_subsets_and_folder_checks(tmp_path):
    write_tree(
        tmp_path,
        [
            "0001/Angry/0001_000351.wav",
            "0011/Surprise/evaluation/0011_001700.flac",
            "0001/Bored/0001_000001.wav",  # unknown emotion folder
            "0002/Sad/0003_000001.wav",  # speaker mismatch
        ],
    )
    m = load_corpus("esd", tmp_path)
    got = sorted((i.speaker, i.language, i.label, i.extra["subset"]) for i in m)
    assert got == [("0001", "zh", "angry", None), ("0011", "en", "surprise", "evaluation")]
    assert len(m.unparsed) == 2
