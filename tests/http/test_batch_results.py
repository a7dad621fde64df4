"""services/http/batch_results.py: a batch's per-file outcomes, as GET /v1/jobs/{id}/results lists them."""
from __future__ import annotations

import json

import pytest

from services.http.batch_results import batch_files
from shared.errors import InvalidInput
from shared.paths import PathPolicy


def test_latest_record_per_file_in_first_seen_order_paged(tmp_path):
    out = tmp_path / "artifacts" / "jobs" / "j1"
    out.mkdir(parents=True)
    records = [
        {"key": "a|1", "path": "/data/a.wav", "ok": False, "error": "UNAVAILABLE", "retryable": True, "attempts": 3},
        {"key": "b|1", "path": "/data/b.wav", "ok": True, "duration_s": 14.6, "segments": 8, "result": "calls/b.jsonl"},
        {"key": "c|refused", "path": "/etc/c.wav", "ok": False, "error": "outside_data_roots", "attempts": 0},
        {"key": "a|1", "path": "/data/a.wav", "ok": True, "duration_s": 20.0, "segments": 11, "attempts": 1},
    ]
    (out / "results.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n{not json\n")
    paths = PathPolicy(data_roots=(tmp_path,), output_roots=(tmp_path / "artifacts",))
    first = batch_files(str(out), paths, limit=2)
    assert first["total"] == 3 and first["next_offset"] == 2
    assert [(f["path"], f["ok"]) for f in first["files"]] == [("/data/a.wav", True), ("/data/b.wav", True)]
    assert first["files"][0]["segments"] == 11 and "retryable" not in first["files"][0]  # the retry's record wins
    rest = batch_files(str(out), paths, offset=2, limit=2)
    assert rest["next_offset"] == 0 and rest["files"] == [{"path": "/etc/c.wav", "ok": False,
                                                           "error": "outside_data_roots", "attempts": 0}]
    assert batch_files("", paths) == {"files": [], "total": 0, "next_offset": 0}  # nothing written yet


def test_a_folder_outside_the_output_roots_is_not_read(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    paths = PathPolicy(data_roots=(tmp_path,), output_roots=(tmp_path / "artifacts",))
    with pytest.raises(InvalidInput, match="outside"):
        batch_files(str(tmp_path / "elsewhere"), paths)
