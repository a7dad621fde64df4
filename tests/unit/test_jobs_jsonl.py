from __future__ import annotations

from services.jobs.jsonl import JsonlWriter, finished_keys, read_records


def test_torn_last_line_is_dropped_and_redone(tmp_path):
    out = tmp_path / "r.jsonl"
    with JsonlWriter(out) as w:
        w.write({"path": "a", "ok": True})
        w.write({"path": "b", "ok": False})
    with open(out, "a") as fh:
        fh.write('{"path": "c", "ok"')  # a worker killed mid-write
    assert finished_keys(out) == {"a", "b"}
    with JsonlWriter(out) as w:
        w.write({"path": "c", "ok": True})
    assert [r["path"] for r in read_records(out)] == ["a", "b", "c"]


def test_missing_file_has_no_keys(tmp_path):
    assert finished_keys(tmp_path / "none.jsonl") == set()
