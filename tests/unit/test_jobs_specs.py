from __future__ import annotations

import pytest

from services.jobs.specs import SegmentBatchSpec, parse_spec
from shared.errors import SpecError


def test_valid_spec_from_yaml_text():
    spec = parse_spec("segment_batch", "inputs: [a.wav, b.flac]\nvad:\n  threshold: 0.6\n")
    assert isinstance(spec, SegmentBatchSpec)
    assert spec.inputs == ["a.wav", "b.flac"] and spec.vad.threshold == 0.6


@pytest.mark.parametrize(
    "data, match",
    [
        ({"inputs": ["a.wav"], "bogus": 1}, "bogus"),
        ({"inputs": ["a.wav"], "vad": {"threshold": 1.5}}, "vad.threshold"),
        ({"inputs": ["a.wav"], "normalize": "loud"}, "normalize"),
        ({}, "inputs"),
        ({"inputs": [" "]}, "empty path"),
        ("- just\n- a list\n", "mapping"),
        ("inputs: [unclosed\n", "YAML"),
    ],
)
def test_malformed_specs_name_the_problem(data, match):
    with pytest.raises(SpecError, match=match):
        parse_spec("segment_batch", data)


def test_unknown_kind_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="unknown job kind"):
        parse_spec("train_everything", {})
    with pytest.raises(SpecError, match="not found"):
        parse_spec("segment_batch", str(tmp_path / "nope.yaml"))


def test_spec_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("manifest: /data/calls\nkeep_channels: false\n")
    spec = parse_spec("segment_batch", p)
    assert spec.manifest == "/data/calls" and spec.keep_channels is False
