from pathlib import Path

from shared.corpora.base import Drop, Unparseable, audio_files, collect
from shared.corpora.items import CorpusItem
from tests.unit.corpora_testutil import write_tree


def test_audio_files_finds_wav_and_flac_any_case_and_counts_hidden(tmp_path):
    write_tree(tmp_path, ["a/x.wav", "b/y.flac", "c/._x.wav"])
    (tmp_path / "z.WAV").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    files, hidden = audio_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a/x.wav", "b/y.flac", "z.WAV"]
    assert hidden == 1


def test_collect_separates_items_unparsed_and_dropped():
    def parse(p: Path):
        if p.stem == "bad":
            raise Unparseable("bad name")
        if p.stem == "song":
            return Drop("song")
        return CorpusItem(p, "c", "en", "s", None, "n", "neutral")

    m = collect("c", [Path("ok.wav"), Path("bad.wav"), Path("song.wav"), Path("song2.wav")], parse, hidden=2)
    assert [i.path.name for i in m] == ["ok.wav", "song2.wav"]
    assert [(u.path, u.reason) for u in m.unparsed] == [("bad.wav", "bad name")]
    assert m.dropped == {"song": 1, "hidden file (name starts with '.')": 2}
