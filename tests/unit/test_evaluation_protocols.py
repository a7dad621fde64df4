from pathlib import Path

import pytest

from shared.corpora.items import CorpusItem, Manifest
from shared.errors import SpecError
from shared.evaluation.protocols import (
    SpeakerLeak,
    Split,
    cross_corpus,
    final_fit,
    leave_one_corpus_out,
    leave_one_language_out,
    leave_one_speaker_out,
    pretrain_finetune_kfold,
    speaker_kfold,
    test_only,
)

LAYOUT = {  # corpus: (language, speakers, items per speaker)
    "c1": ("en", 6, 4),
    "c2": ("en", 4, 5),
    "c3": ("de", 5, 2),
    "c4": ("it", 2, 3),
}


@pytest.fixture
def manifest():
    items = []
    for corpus, (lang, n_spk, per) in LAYOUT.items():
        for s in range(n_spk):
            for k in range(per):
                label = ("angry", "happy", "sad", "neutral")[k % 4]
                items.append(CorpusItem(Path(f"/{corpus}/{s}_{k}.wav"), corpus, lang, f"s{s}", None, label, label))
    return Manifest(tuple(items))


def no_leak(split):
    parts = [p for p in (split.pretrain, split.train, split.valid) if p is not None]
    for p in parts:
        assert not p.speaker_keys & split.test.speaker_keys


def test_cross_corpus(manifest):
    splits = cross_corpus(manifest, ["c1", "c2"], ["c3", "c4"], valid_speaker_fraction=0.2, seed=1)
    assert [s.name for s in splits] == ["c1+c2->c3", "c1+c2->c4"]
    s = splits[0]
    assert s.test.corpora == ["c3"] and set(s.train.corpora) <= {"c1", "c2"}
    assert len(s.valid.speaker_keys) == 2  # round(0.2 * 10)
    assert len(s.train) + len(s.valid) == 24 + 20
    no_leak(s)
    assert not s.sees_target_labels
    with pytest.raises(SpecError, match="both train and test"):
        cross_corpus(manifest, ["c1"], ["c1"])
    with pytest.raises(SpecError, match="not in the manifest"):
        cross_corpus(manifest, ["c1"], ["c9"])


def test_leave_one_corpus_out_rotates_validation(manifest):
    splits = leave_one_corpus_out(manifest)
    got = [(s.details["test_corpus"], s.details["valid_corpus"], s.details["train_corpora"]) for s in splits]
    assert got == [
        ("c1", "c2", ["c3", "c4"]),
        ("c2", "c3", ["c1", "c4"]),
        ("c3", "c4", ["c1", "c2"]),
        ("c4", "c1", ["c2", "c3"]),
    ]
    for s in splits:
        no_leak(s)
        assert len(s.train) + len(s.valid) + len(s.test) == len(manifest)


def test_leave_one_speaker_out(manifest):
    splits = leave_one_speaker_out(manifest, "c1")
    assert len(splits) == 6
    for s in splits:
        assert len(s.test.speaker_keys) == 1 and len(s.valid.speaker_keys) == 1
        assert len(s.train.speaker_keys) == 4
        no_leak(s)
    assert splits[-1].details["valid_speaker"] == "c1/s0"  # rotates around
    with pytest.raises(SpecError, match="one corpus"):
        leave_one_speaker_out(manifest)


def test_speaker_kfold_is_seeded_complete_and_balanced(manifest):
    data = manifest.filter(corpus=["c1", "c2"])
    a = speaker_kfold(data, 5, seed=3)
    b = speaker_kfold(data, 5, seed=3)
    c = speaker_kfold(data, 5, seed=4)
    assert [s.test.speaker_keys for s in a] == [s.test.speaker_keys for s in b]
    assert [s.test.speaker_keys for s in a] != [s.test.speaker_keys for s in c]
    tested = [k for s in a for k in s.test.speaker_keys]
    assert sorted(tested) == sorted(data.speaker_keys)  # every speaker tested exactly once
    sizes = sorted(len(s.test) for s in a)
    assert sizes[-1] - sizes[0] <= 5  # greedy packing keeps folds within one speaker's size
    for s in a:
        no_leak(s)
        assert len(s.train) + len(s.test) == len(data)
    with pytest.raises(SpecError):
        speaker_kfold(data, 11)


def test_leave_one_language_out_with_balancing(manifest):
    plain = {s.details["test_language"]: s for s in leave_one_language_out(manifest)}
    assert set(plain) == {"en", "de", "it"}
    assert plain["en"].train.counts("language") == {"de": 10, "it": 6}
    bal = {s.details["test_language"]: s for s in leave_one_language_out(manifest, balance_languages=True)}
    # training languages de (10 items) and it (6): it repeated round(10/6) = 2 times
    assert bal["en"].details["repeat_factors"] == {"de": 1, "it": 2}
    assert bal["en"].train.counts("language") == {"de": 10, "it": 12}
    # testing on it: en has 44 items, de 10 -> de x4
    assert bal["it"].details["repeat_factors"] == {"de": 4, "en": 1}
    for s in bal.values():
        no_leak(s)
        assert s.test.languages == [s.details["test_language"]]


def test_pretrain_finetune_kfold_flags_target_labels(manifest):
    splits = pretrain_finetune_kfold(manifest, ["c1", "c2"], "c3", k=5, seed=0)
    assert len(splits) == 5
    for s in splits:
        assert s.sees_target_labels and s.protocol == "pretrain_finetune_kfold"
        assert s.pretrain.corpora == ["c1", "c2"] and s.train.corpora == ["c3"] and s.test.corpora == ["c3"]
        no_leak(s)
        assert "not a zero-shot" in s.description
    with pytest.raises(SpecError):
        pretrain_finetune_kfold(manifest, ["c3"], "c3")


def test_split_refuses_speaker_leaks_and_serialises(manifest):
    c1 = manifest.filter(corpus="c1")
    with pytest.raises(SpeakerLeak, match="c1/s0"):
        Split("bad", train=c1, valid=None, test=c1.filter(speakers=["c1/s0"]))
    with pytest.raises(SpeakerLeak, match="train and valid"):
        Split("bad", train=c1, valid=c1.filter(speakers=["c1/s1"]), test=manifest.filter(corpus="c2"))
    s = cross_corpus(manifest, ["c1"], ["c2"], normalization="per_speaker")[0]
    d = s.to_dict()
    assert d["normalization"] == "per_speaker"
    assert d["test"]["speakers"] == ["c2/s0", "c2/s1", "c2/s2", "c2/s3"]
    assert d["train"]["items"] == 24 and d["valid"] is None and len(d["test"]["digest"]) == 16
    with pytest.raises(SpecError):
        cross_corpus(manifest, ["c1"], ["c2"], normalization="per_call")


def test_final_fit_trains_on_everything_and_says_its_test_is_the_training_data(manifest):
    [split] = final_fit(manifest, ["c1", "c2"])
    assert len(split.train) == 6 * 4 + 4 * 5 and [i.key for i in split.test] == [i.key for i in split.train]
    assert split.details["test_is_training_data"] is True and split.valid is None
    with pytest.raises(SpeakerLeak):  # any other protocol still refuses the same overlap
        Split(name="x", train=split.train, valid=None, test=split.test, protocol="cross_corpus")


def test_test_only_evaluates_each_corpus_and_trains_nothing(manifest):
    splits = test_only(manifest, ["c3", "c4"])
    assert [s.name for s in splits] == ["test-c3", "test-c4"]
    assert all(len(s.train) == 0 for s in splits) and [len(s.test) for s in splits] == [10, 6]
    with pytest.raises(SpecError):
        Split(name="x", train=splits[0].train, valid=None, test=splits[0].test, protocol="cross_corpus")
