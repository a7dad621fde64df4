"""Issue 18, finding 8: a name pattern anchored with ``$`` also matches the name plus a trailing newline.

Python's ``$`` matches before a final ``\\n``; ``\\Z`` (or ``fullmatch``) does not. Pydantic's patterns run
on Rust's regex engine, where ``$`` is the end of the text, and are checked here by behaviour.
"""
from __future__ import annotations

import importlib
import re

import pytest

from services.jobs.specs import parse_spec
from shared.errors import SpecError

MODULES = ["services.http.recent_calls", "shared.registry.store", "shared.corpora.cremad", "shared.corpora.savee",
           "shared.corpora.urdu", "shared.corpora.emovo", "shared.corpora.turevdb", "shared.corpora.emodb",
           "shared.corpora.ravdess", "shared.corpora.iemocap", "shared.corpora.esd"]


@pytest.mark.parametrize("name", MODULES)
def test_no_module_pattern_is_anchored_with_a_dollar(name):
    module = importlib.import_module(name)
    loose = [key for key, value in vars(module).items()
             if isinstance(value, re.Pattern) and value.pattern.startswith("^") and value.pattern.endswith("$")]
    assert not loose, f"{name}: {loose} end in $; use \\Z"


def test_a_call_id_or_model_name_with_a_trailing_newline_is_refused(tmp_path):
    from services.http.recent_calls import RecentCalls
    from shared.errors import NotFound
    from shared.registry.store import ModelRegistry

    calls = RecentCalls(tmp_path / "calls")
    call_id, _ = calls.new()
    (tmp_path / "calls" / call_id / "result.json").write_text("{}")
    assert calls.folder(call_id)
    with pytest.raises(NotFound):
        calls.folder(call_id + "\n")
    with pytest.raises(SpecError, match="must be 1-128 letters"):
        ModelRegistry(tmp_path / "registry").publish(None, None, name="default\n")  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", [{"manifest": "/x", "model": "default\n"},
                                  {"manifest": "/x", "model": "default:2\n"}])
def test_spec_name_patterns_refuse_a_trailing_newline(spec):
    with pytest.raises(SpecError):
        parse_spec("analyze_batch", spec)
    with pytest.raises(SpecError):
        parse_spec("fit_vocabulary", {"manifest": "/x", "name": "vocab\n"})
