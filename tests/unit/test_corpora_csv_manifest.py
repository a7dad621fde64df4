import pytest

from shared.corpora import load_corpus
from shared.errors import SpecError
from tests.unit.corpora_testutil import write_tree


def test_csv_manifest_rows(tmp_path):
    write_tree(tmp_path, ["audio/a.wav", "audio/b.flac", "audio/c.wav"])
    (tmp_path / "m.csv").write_text(
        "path,label,speaker,corpus,language,gender,start,duration\n"
        "audio/a.wav,Anger,s1,mine,fr,female,1.5,2.0\n"
        "audio/b.flac,happiness,s2,mine,fr,,,\n"
        "audio/c.wav,sarcasm,s2,mine,fr,,,\n"
        "audio/missing.wav,sad,s3,mine,fr,,,\n"
        "audio/a.wav,,s3,mine,fr,,,\n"
    )
    m = load_corpus("csv", tmp_path / "m.csv")
    got = [(i.path.name, i.label_original, i.label, i.speaker, i.start_s, i.duration_s, i.gender) for i in m]
    assert got == [
        ("a.wav", "Anger", "angry", "s1", 1.5, 2.0, "female"),
        ("b.flac", "happiness", "happy", "s2", 0.0, None, None),
        ("c.wav", "sarcasm", None, "s2", 0.0, None, None),  # unknown spelling: not guessed
    ]
    assert m[0].path == tmp_path / "audio" / "a.wav"
    assert sorted(u.reason for u in m.unparsed) == ["audio file not found", "empty required column(s) ['label']"]


def test_csv_manifest_requires_columns(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\nx.wav,angry\n")
    with pytest.raises(SpecError, match="speaker"):
        load_corpus("csv", tmp_path / "m.csv")
