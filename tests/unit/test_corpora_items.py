from pathlib import Path

import pytest

from shared.corpora.items import CorpusItem, Manifest, Unparsed
from shared.errors import InvalidInput, NotFound


def item(corpus="c1", speaker="s1", label="angry", **kw):
    return CorpusItem(
        path=Path(f"/data/{corpus}/{speaker}_{label}.wav"),
        corpus=corpus,
        language=kw.pop("language", "en"),
        speaker=speaker,
        gender=kw.pop("gender", None),
        label_original=label[:3],
        label=label,
        **kw,
    )


def test_speaker_key_disambiguates_corpora():
    a, b = item("emodb", "03"), item("ravdess", "03")
    assert a.speaker_key != b.speaker_key
    assert Manifest((a, b)).counts("speaker") == {"emodb/03": 1, "ravdess/03": 1}


def test_jsonl_roundtrip(tmp_path):
    m = Manifest((item(start_s=1.25, duration_s=2.5, channel=1, extra={"vad": [1.0, 2.0]}), item(label="sad")))
    path = m.save_jsonl(tmp_path / "sub" / "m.jsonl")
    back = Manifest.load_jsonl(path)
    assert back.items == m.items
    assert back[0].extra == {"vad": [1.0, 2.0]} and back[0].channel == 1 and back[0].duration_s == 2.5


def test_load_jsonl_errors(tmp_path):
    with pytest.raises(NotFound):
        Manifest.load_jsonl(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"path": "x.wav"}\n')
    with pytest.raises(InvalidInput, match="corpus"):
        Manifest.load_jsonl(tmp_path / "bad.jsonl")


def test_filter_counts_and_tables():
    m = Manifest(
        (item("c1", "s1", "angry"), item("c1", "s2", "sad"), item("c2", "s1", "angry", language="de")),
        unparsed=(Unparsed("x.wav", "bad name"),),
        dropped={"song": 2},
    )
    assert len(m.filter(corpus="c1")) == 2
    assert len(m.filter(language=["de"])) == 1
    assert len(m.filter(speakers={"c1/s1"})) == 1
    assert len(m.filter(labels=["sad"], corpus=["c1", "c2"])) == 1
    assert m.filter(corpus="c1").dropped == {"song": 2}  # bookkeeping travels with the items
    assert m.counts("label") == {"angry": 2, "sad": 1}
    assert m.count_table("corpus", "label") == {"c1": {"angry": 1, "sad": 1}, "c2": {"angry": 1}}
    assert m.summary()["unparsed"] == 1 and m.languages == ["de", "en"]
    with pytest.raises(InvalidInput):
        m.counts("colour")


def test_concat_merges_bookkeeping():
    a = Manifest((item("c1"),), dropped={"calm": 1})
    b = Manifest((item("c2"),), unparsed=(Unparsed("y", "r"),), dropped={"calm": 2, "song": 1})
    m = a + b
    assert len(m) == 2 and m.dropped == {"calm": 3, "song": 1} and len(m.unparsed) == 1
