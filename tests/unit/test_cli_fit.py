"""``ser fit ...`` flags -> job specs that the job client accepts (no Redis needed)."""
from __future__ import annotations

import pytest

from services.cli.fit import parse_corpus, spec_from_args
from services.cli.main import build_parser
from services.jobs.specs import FitSpeakerPcaSpec, FitVocabularySpec, parse_spec
from shared.errors import SpecError


def test_vocabulary_flags_make_a_valid_spec() -> None:
    args = build_parser().parse_args(
        ["fit", "vocabulary", "--corpus", "savee=/data/SAVEE", "--corpus", "tess=/data/TESS", "--k-candidates", "64,128,256"]
    )
    kind, spec = spec_from_args(args)
    parsed = parse_spec(kind, spec)
    assert kind == "fit_vocabulary" and isinstance(parsed, FitVocabularySpec)
    assert [c.name for c in parsed.corpora] == ["savee", "tess"] and parsed.corpora[1].root == "/data/TESS"
    assert parsed.k_candidates == [64, 128, 256] and parsed.name == "default" and parsed.preset == "vacnn"


def test_speaker_pca_flags_make_a_valid_spec() -> None:
    args = build_parser().parse_args(["fit", "speaker-pca", "--manifest", "/data/train.jsonl", "--width", "128"])
    kind, spec = spec_from_args(args)
    parsed = parse_spec(kind, spec)
    assert kind == "fit_speaker_pca" and isinstance(parsed, FitSpeakerPcaSpec)
    assert parsed.width == 128 and parsed.manifest == "/data/train.jsonl" and parsed.corpora == []


def test_bad_flags_are_refused() -> None:
    with pytest.raises(SpecError, match="NAME=ROOT"):
        parse_corpus("savee")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "vocabulary", "--k", "8", "--k-candidates", "8,16"])
    args = build_parser().parse_args(["fit", "vocabulary", "--corpus", "savee=/x", "--k-candidates", "8,x"])
    with pytest.raises(SpecError, match="comma-separated"):
        spec_from_args(args)
