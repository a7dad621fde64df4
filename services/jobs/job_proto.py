"""A job record as ser.v1.Job: what the gateway answers, and what a webhook carries, built in one place."""
from __future__ import annotations

import json
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


def job_to_proto(job: Job) -> jobs_pb2.Job:
    result = job.result or {}
    message = jobs_pb2.Job(
        id=job.id, kind=KINDS.get(job.kind, jobs_pb2.JOB_KIND_UNSPECIFIED), state=STATES[job.state],
        progress=jobs_pb2.JobProgress(fraction=job.progress, message=job.message, step=job.done,
                                      total_steps=job.total, items_done=job.done, items_failed=job.items_failed),
        spec=jobs_pb2.JobSpec(format=jobs_pb2.SPEC_FORMAT_JSON, text=json.dumps(job.spec, sort_keys=True)),
        result_uri=str(result.get("output_dir") or result.get("result_uri") or ""),
        created_unix_ms=int(job.created * 1000), attempts=job.attempts, labels=job.labels,
        idempotency_key=job.idempotency_key, callback_url=job.callback_url,
    )
    if job.state.finished:
        message.finished_unix_ms = int(job.updated * 1000)
    if job.error:
        message.error.CopyFrom(common_pb2.ErrorDetail(code="job_failed", message=job.error))
    return message


def proto_json(message: Message) -> dict[str, Any]:
    """A message in protobuf's JSON mapping with every field (enums by name, int64 as strings): the HTTP
    API's and the webhooks' one JSON form of a resource."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
