"""A job record as ser.v1.Job: what the gateway answers, and what a webhook carries, built in one place."""
from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from ser.v1 import common_pb2, jobs_pb2

from services.jobs.store import Job, JobState

KINDS: dict[str, int] = {
    "train": jobs_pb2.JOB_KIND_TRAINING,
    "evaluate": jobs_pb2.JOB_KIND_EVALUATION,
    "fit_vocabulary": jobs_pb2.JOB_KIND_FIT,
    "fit_speaker_pca": jobs_pb2.JOB_KIND_FIT,
    "fit_normalization": jobs_pb2.JOB_KIND_FIT,
    "analyze_batch": jobs_pb2.JOB_KIND_BATCH_ANALYSIS,
    "segment_batch": jobs_pb2.JOB_KIND_SEGMENT_BATCH,
}
STATES: dict[JobState, int] = {
    JobState.PENDING: jobs_pb2.JOB_STATE_PENDING, JobState.RUNNING: jobs_pb2.JOB_STATE_RUNNING,
    JobState.RETRYING: jobs_pb2.JOB_STATE_RETRYING, JobState.SUCCEEDED: jobs_pb2.JOB_STATE_SUCCEEDED,
    JobState.PARTIAL: jobs_pb2.JOB_STATE_PARTIAL, JobState.FAILED: jobs_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: jobs_pb2.JOB_STATE_CANCELLED,
}


UINT32_MAX, INT64_MAX = 2**32 - 1, 2**63 - 1


def _count(value: Any, top: int = UINT32_MAX) -> int:
    """A count as the contract types it (unsigned, bounded): a record's odd value (a negative step, a float)
    reads back clamped instead of failing every GetJob of the job."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(number) else int(min(max(number, 0.0), top))


def _fraction(value: float) -> float:
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)


def _ms(seconds: float) -> int:
    return _count(seconds * 1000 if math.isfinite(seconds) else 0, INT64_MAX)


def job_to_proto(job: Job) -> jobs_pb2.Job:
    """The record as ser.v1.Job; every number is brought into its field's range, so a job the store holds
    always reads back (GetJob, WatchJob, the HTTP API and webhooks all come through here)."""
    result = job.result if isinstance(job.result, dict) else {}
    message = jobs_pb2.Job(
        id=job.id, kind=KINDS.get(job.kind, jobs_pb2.JOB_KIND_UNSPECIFIED), state=STATES[job.state],
        progress=jobs_pb2.JobProgress(fraction=_fraction(job.progress), message=job.message,
                                      step=_count(job.done, INT64_MAX), total_steps=_count(job.total, INT64_MAX),
                                      items_done=_count(job.done), items_failed=_count(job.items_failed)),
        spec=jobs_pb2.JobSpec(format=jobs_pb2.SPEC_FORMAT_JSON, text=json.dumps(job.spec, sort_keys=True)),
        result_uri=str(result.get("output_dir") or result.get("result_uri") or ""),
        created_unix_ms=_ms(job.created), attempts=_count(job.attempts),
        labels={str(k): str(v) for k, v in (job.labels if isinstance(job.labels, dict) else {}).items()},
        idempotency_key=job.idempotency_key, callback_url=job.callback_url,
    )
    if job.state.finished:
        message.finished_unix_ms = _ms(job.updated)
    if job.error:
        message.error.CopyFrom(common_pb2.ErrorDetail(code="job_failed", message=job.error))
    return message


def proto_json(message: Message) -> dict[str, Any]:
    """A message in protobuf's JSON mapping with every field (enums by name, int64 as strings): the HTTP
    API's and the webhooks' one JSON form of a resource."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
