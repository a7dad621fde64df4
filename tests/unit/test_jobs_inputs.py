from __future__ import annotations

import json

import pytest

from services.jobs.inputs import resolve_inputs
from shared.errors import InvalidInput, SpecError
from shared.paths import PathPolicy


def test_folder_list_and_jsonl(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.wav", "d/sub/a.flac", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in resolve_inputs([], str(tmp_path / "d")).files] == ["b.wav", "a.flac"]
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nd/b.wav\n\n")
    assert resolve_inputs([], str(lst)).files == [(tmp_path / "d/b.wav").resolve()]
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"path": str(tmp_path / "d/b.wav")}) + "\n")
    assert len(resolve_inputs(["extra.wav"], str(man)).files) == 2


def test_relative_paths_of_every_manifest_format_resolve_against_the_manifest_folder(tmp_path, monkeypatch):
    (tmp_path / "lists" / "calls").mkdir(parents=True)
    (tmp_path / "lists" / "calls" / "a.wav").write_bytes(b"x")
    (tmp_path / "lists" / "m.jsonl").write_text(json.dumps({"path": "calls/a.wav"}) + "\n")
    (tmp_path / "lists" / "m.csv").write_text("path,label\ncalls/a.wav,angry\n")
    (tmp_path / "lists" / "m.txt").write_text("calls/a.wav\n")
    monkeypatch.chdir(tmp_path)  # not the manifest's folder: a cwd-relative reading would miss the file
    for name in ("m.jsonl", "m.csv", "m.txt"):
        assert resolve_inputs([], str(tmp_path / "lists" / name)).files == [tmp_path / "lists" / "calls" / "a.wav"]


def test_one_audio_file_given_as_the_manifest_is_a_batch_of_one_and_binary_manifests_are_refused_clearly(tmp_path):
    wav = tmp_path / "call.wav"
    wav.write_bytes(b"RIFF\x00\x00\xff\xfe" * 10)  # not UTF-8: reading it as a list would raise UnicodeDecodeError
    assert resolve_inputs([], str(wav)).files == [wav]
    blob = tmp_path / "calls.bin"
    blob.write_bytes(b"\xff\xfe\x00" * 10)
    with pytest.raises(SpecError, match="is not text"):
        resolve_inputs([], str(blob))


def test_bad_manifests(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        resolve_inputs([], str(tmp_path / "missing"))
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"file": "x"}\n')
    with pytest.raises(SpecError, match="path"):
        resolve_inputs([], str(bad))
    csv = tmp_path / "m.csv"
    csv.write_text("file\nx.wav\n")
    with pytest.raises(SpecError, match="`path` column"):
        resolve_inputs([], str(csv))
    with pytest.raises(SpecError, match="no input"):
        resolve_inputs([], None)


def test_escaping_entries_are_refused_one_by_one_and_the_rest_kept(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "ok.wav").write_bytes(b"x")
    (root / "link.wav").symlink_to(tmp_path / "outside.wav")
    (root / "list.txt").write_text("ok.wav\nlink.wav\n../outside.wav\n/proc/self/environ\n")
    paths = PathPolicy(data_roots=(root,))
    inputs = resolve_inputs([], str(root / "list.txt"), paths)
    assert inputs.files == [root / "ok.wav"] and len(inputs) == 4
    assert [r.path for r in inputs.refused] == [str(root / "link.wav"), str(root / "../outside.wav"),
                                                "/proc/self/environ"]
    assert all("outside the configured data roots" in r.message for r in inputs.refused)
    record = inputs.refused[0].record()
    assert record["ok"] is False and record["error"] == "invalid_input" and record["retryable"] is False
    with pytest.raises(InvalidInput, match="outside the configured data roots"):
        resolve_inputs([], str(tmp_path), paths)  # the manifest itself is part of the spec


def test_proc_and_the_tls_key_are_private_whatever_the_roots(tmp_path):
    key = tmp_path / "tls.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    paths = PathPolicy(private=(*PathPolicy().private, key))  # no data roots: reads are otherwise unrestricted
    inputs = resolve_inputs([str(key), "/proc/self/environ", str(tmp_path / "a.wav")], None, paths)
    assert inputs.files == [tmp_path / "a.wav"]
    assert all("private to the service" in r.message for r in inputs.refused) and len(inputs.refused) == 2
