"""A batch's per-file outcomes for the HTTP API, read from the job's ``results.jsonl``.

The jobs page links each batch to this list rather than to a folder path a browser cannot open. Only a
folder inside the output roots (SER_ARTIFACTS_DIR, SER_OUTPUT_ROOTS) is read, so a job record cannot make
the HTTP service read anything else.
"""
from __future__ import annotations

from typing import Any

from services.jobs.jsonl import latest_by, read_records
from services.jobs.tasks.analyze import RESULTS
from shared.paths import PathPolicy

FIELDS = ("path", "ok", "duration_s", "segments", "error", "error_code", "message", "attempts", "result")


def batch_files(result_uri: str, paths: PathPolicy, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
    """``{"files": [...], "total": n, "next_offset": k}``: each file's latest record, in first-seen order
    (``next_offset`` 0 = no more). A job that has written nothing yet has no files."""
    if not result_uri:
        return {"files": [], "total": 0, "next_offset": 0}
    rows = list(latest_by(read_records(paths.write(result_uri) / RESULTS), "key").values())
    page = rows[offset : offset + limit]
    end = offset + len(page)
    return {"files": [{k: r[k] for k in FIELDS if k in r} for r in page], "total": len(rows),
            "next_offset": end if end < len(rows) else 0}
