from shared.corpora import load_corpus
from tests.unit.corpora_testutil import write_tree


def test_emodb_parses_codes_speakers_and_genders(tmp_path):
    write_tree(tmp_path, ["wav/03a01Fa.wav", "wav/08b02Lb.flac", "wav/16a05Wc.wav", "wav/03a01Xa.wav", "wav/notes.wav"])
    m = load_corpus("emodb", tmp_path)
    by_name = {i.path.name: i for i in m}
    assert set(by_name) == {"03a01Fa.wav", "08b02Lb.flac", "16a05Wc.wav"}
    happy = by_name["03a01Fa.wav"]
    assert (happy.speaker, happy.gender, happy.label_original, happy.label) == ("03", "male", "F", "happy")
    assert happy.language == "de" and happy.extra == {"text": "a01", "version": "a"}
    assert (by_name["08b02Lb.flac"].label, by_name["08b02Lb.flac"].gender) == ("boredom", "female")
    assert by_name["16a05Wc.wav"].label == "angry"
    assert sorted(u.path.rsplit("/", 1)[1] for u in m.unparsed) == ["03a01Xa.wav", "notes.wav"]
    assert "unknown emotion letter 'X'" in next(u.reason for u in m.unparsed if "Xa" in u.path)
