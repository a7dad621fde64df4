from __future__ import annotations

import json

import pytest

from services.jobs.inputs import resolve_inputs
from shared.errors import InvalidInput, SpecError


def test_folder_list_and_jsonl(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.wav", "d/sub/a.flac", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in resolve_inputs([], str(tmp_path / "d"))] == ["b.wav", "a.flac"]
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nd/b.wav\n\n")
    assert resolve_inputs([], str(lst)) == [(tmp_path / "d/b.wav").resolve()]
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"path": str(tmp_path / "d/b.wav")}) + "\n")
    assert len(resolve_inputs(["extra.wav"], str(man))) == 2


def test_bad_manifests(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        resolve_inputs([], str(tmp_path / "missing"))
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"file": "x"}\n')
    with pytest.raises(SpecError, match="path"):
        resolve_inputs([], str(bad))
    with pytest.raises(SpecError, match="no input"):
        resolve_inputs([], None)


def test_paths_confined_to_roots(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "ok.wav").write_bytes(b"x")
    (root / "link.wav").symlink_to(tmp_path / "outside.wav")
    assert resolve_inputs([str(root / "ok.wav")], None, (root,))
    for escape in (str(root / ".." / "outside.wav"), str(root / "link.wav"), "/etc/passwd"):
        with pytest.raises(InvalidInput, match="outside the configured data roots"):
            resolve_inputs([escape], None, (root,))
