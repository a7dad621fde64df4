"""segment_batch on a real Redis and a real Celery worker subprocess."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from services.jobs.store import JobState
from shared.assets import sample_call_path

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]


def _batch_dir(root: Path) -> Path:
    d = root / "calls"
    d.mkdir()
    shutil.copy(sample_call_path(), d / "a_call.wav")
    (d / "b_corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    (d / "c_empty.wav").write_bytes(b"")
    t = np.arange(16000) / 16000
    sf.write(d / "d_tone.flac", 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return d


def _finish(job_client, job_id: str, timeout_s: float = 180) -> list[dict]:
    events = list(job_client.watch(job_id, timeout_s=timeout_s))
    assert job_client.get(job_id).state.finished, f"job did not finish: {job_client.get(job_id)}"
    return events


def test_segment_batch_completes_and_reports_bad_files(worker, job_client, tmp_path):
    folder = _batch_dir(tmp_path)
    job = job_client.submit("segment_batch", {"manifest": str(folder), "output_dir": str(tmp_path / "out")})
    events = _finish(job_client, job.id)
    final = job_client.get(job.id)
    assert final.state is JobState.PARTIAL, final  # two of four files do not decode
    assert final.result["files"] == 4 and final.result["completed"] == 2 and final.result["failed"] == 2
    assert sorted(Path(e.split(": ")[0]).name for e in final.result["errors"]) == ["b_corrupt.wav", "c_empty.wav"]
    assert any(e.get("done") == 4 for e in events), "progress events must reach 4/4"
    lines = [json.loads(x) for x in Path(final.result["output"]).read_text().splitlines()]
    by_name = {Path(r["path"]).name: r for r in lines}
    call = by_name["a_call.wav"]
    assert call["ok"] and {s["channel"] for s in call["segments"]} == {0, 1}
    assert {s["speaker"] for s in call["segments"]} == {"agent", "customer"}
    assert by_name["b_corrupt.wav"] == {**by_name["b_corrupt.wav"], "ok": False, "error": "corrupt_audio"}
    assert by_name["c_empty.wav"]["error"] == "empty_audio"
    assert by_name["d_tone.flac"]["ok"]


def test_invalid_spec_is_refused_before_queueing(job_client):
    from shared.errors import SpecError

    with pytest.raises(SpecError, match="inputs|manifest"):
        job_client.submit("segment_batch", {"output_dir": "x"})
    with pytest.raises(SpecError, match="unknown job kind"):
        job_client.submit("no_such_job", {})


def test_cancel_keeps_partial_results(worker, job_client, tmp_path):
    calls = tmp_path / "many"
    calls.mkdir()
    for i in range(40):  # distinct paths: results are keyed by path
        shutil.copy(sample_call_path(), calls / f"call_{i:02d}.wav")
    many = sorted(str(p) for p in calls.iterdir())
    job = job_client.submit("segment_batch", {"inputs": many, "output_dir": str(tmp_path / "out")})
    for event in job_client.watch(job.id, timeout_s=120):
        if event.get("done", 0) >= 2:
            job_client.cancel(job.id)
            break
    _finish(job_client, job.id)
    final = job_client.get(job.id)
    assert final.state is JobState.CANCELLED, final
    written = Path(final.result["output"]).read_text().splitlines()
    assert 2 <= len(written) < 40
