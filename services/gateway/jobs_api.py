"""ser.v1.Jobs: a thin adapter from the jobs contract to ``services.jobs.client.JobClient``.

Submit builds the job kind's spec (inline text, a file under SER_DATA_ROOTS, or the batch request's
fields) and lets JobClient validate, store and queue it. Kinds this deployment has no task for
answer UNIMPLEMENTED; a Redis that cannot be reached answers UNAVAILABLE.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import redis
from google.protobuf.json_format import MessageToDict
from ser.v1 import jobs_pb2, jobs_pb2_grpc

from services.common.deadlines import remaining_s
from services.common.security import mask_url
from services.jobs.client import TASK_NAMES, JobClient
from services.jobs.job_proto import KINDS, STATES, job_to_proto
from services.jobs.specs import confine_spec, parse_spec
from services.jobs.store import Job
from services.jobs.webhooks import check_callback_url
from shared.errors import InvalidInput
from shared.paths import PathPolicy
from shared.settings import Settings
from shared.spec_io import read_mapping

MAX_SPEC_BYTES = 1 << 20
FIT_KINDS = {jobs_pb2.FIT_TARGET_VOCABULARY: "fit_vocabulary", jobs_pb2.FIT_TARGET_SPEAKER_PCA: "fit_speaker_pca",
             jobs_pb2.FIT_TARGET_NORMALIZATION_STATS: "fit_normalization"}
DEFAULT_PAGE, MAX_PAGE = 50, 500
MAX_OFFSET = 10_000_000


class JobsServicer(jobs_pb2_grpc.JobsServicer):
    """``client`` is built on first use, so the gateway starts (and analyses calls) without Redis."""

    def __init__(self, settings: Settings, client: JobClient | Callable[[], JobClient] | None = None) -> None:
        self.settings = settings
        self.paths = PathPolicy.from_settings(settings)
        self._client = client if isinstance(client, JobClient) else None
        self._factory = client if callable(client) and not isinstance(client, JobClient) else self._default_client

    def _default_client(self) -> JobClient:
        from services.jobs.app import make_app
        from services.jobs.store import JobStore

        return JobClient(make_app(self.settings), JobStore.for_settings(self.settings), self.settings)

    @property
    def client(self) -> JobClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    @contextlib.contextmanager
    def _redis(self, context: grpc.ServicerContext) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"job store unreachable at {mask_url(self.settings.redis_url)}: {exc}")

    def _spec(self, spec: jobs_pb2.JobSpec) -> dict[str, Any]:
        if spec.text and spec.path:
            raise InvalidInput("a job spec has `text` or `path`, not both")
        if spec.path:
            return read_mapping(self.paths.read(spec.path), "job")
        if len(spec.text.encode()) > MAX_SPEC_BYTES:
            raise InvalidInput(f"inline spec is {len(spec.text.encode())} bytes; at most {MAX_SPEC_BYTES}")
        if not spec.text.strip():
            raise InvalidInput("the job spec is empty: set `text` or `path`")
        return read_mapping(spec.text if "\n" in spec.text else spec.text + "\n", "job")

    def _submit(self, kind: str, spec: dict[str, Any], options: jobs_pb2.SubmitOptions,
                context: grpc.ServicerContext) -> jobs_pb2.Job:
        """Every path the spec names, and the callback URL, are checked against the gateway's own settings
        (INVALID_ARGUMENT) before the job client, which checks again with its own, stores and queues it."""
        if kind not in TASK_NAMES:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          f"no worker task for {kind!r} jobs in this deployment; available: {sorted(TASK_NAMES)}")
        confine_spec(parse_spec(kind, spec), self.paths)
        if options.callback_url:
            check_callback_url(options.callback_url, self.settings)
        with self._redis(context):
            return job_to_proto(self.client.submit(kind, spec, callback_url=options.callback_url,
                                                   labels=dict(options.labels),
                                                   idempotency_key=options.idempotency_key))

    def SubmitTraining(self, request: jobs_pb2.SubmitTrainingRequest, context: grpc.ServicerContext) -> jobs_pb2.Job:
        return self._submit("train", self._spec(request.spec), request.options, context)

    def SubmitEvaluation(self, request: jobs_pb2.SubmitEvaluationRequest, context: grpc.ServicerContext
                         ) -> jobs_pb2.Job:
        """``model`` names a registered model to evaluate: the spec's ``evaluate_model`` (NAME[:VERSION])."""
        spec = self._spec(request.spec)
        if request.model.name:
            ref = request.model.name + (f":{request.model.version}" if request.model.version else "")
            spec = {**spec, "evaluate_model": ref}
        return self._submit("evaluate", spec, request.options, context)

    def SubmitFit(self, request: jobs_pb2.SubmitFitRequest, context: grpc.ServicerContext) -> jobs_pb2.Job:
        if request.target not in FIT_KINDS:
            raise InvalidInput("SubmitFit needs a target (vocabulary, speaker PCA or normalisation statistics)")
        return self._submit(FIT_KINDS[request.target], self._spec(request.spec), request.options, context)

    def SubmitBatchAnalysis(self, request: jobs_pb2.SubmitBatchAnalysisRequest, context: grpc.ServicerContext
                            ) -> jobs_pb2.Job:
        if not request.input:
            raise InvalidInput("SubmitBatchAnalysis needs `input` (a folder or a manifest)")
        if request.mode == jobs_pb2.BATCH_MODE_SEGMENT_ONLY:
            vad = MessageToDict(request.options.vad, preserving_proto_field_name=True)
            spec = {"manifest": request.input, "keep_channels": not request.options.mix_down,
                    "vad": {k: v for k, v in vad.items() if v}}
            if request.output_dir:
                spec["output_dir"] = request.output_dir
            return self._submit("segment_batch", spec, request.submit, context)
        # services.jobs.specs.AnalyzeBatchSpec; no output_dir = a job folder under SER_ARTIFACTS_DIR
        spec = {"manifest": request.input, "redo_finished": request.redo_finished,
                "options": MessageToDict(request.options, preserving_proto_field_name=True)}
        if request.output_dir:
            spec["output_dir"] = request.output_dir
        return self._submit("analyze_batch", spec, request.submit, context)

    def GetJob(self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext) -> jobs_pb2.Job:
        with self._redis(context):
            return job_to_proto(self.client.get(request.id))

    def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: grpc.ServicerContext) -> jobs_pb2.Job:
        with self._redis(context):
            return job_to_proto(self.client.cancel(request.id))

    def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: grpc.ServicerContext) -> jobs_pb2.ListJobsResponse:
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        try:
            offset = int(request.page_token or 0)
        except ValueError:
            raise InvalidInput(f"bad page_token {request.page_token!r}") from None
        if not 0 <= offset <= MAX_OFFSET:  # Redis refuses indexes past 2**63 (found by fuzzing)
            raise InvalidInput(f"bad page_token {request.page_token!r}: an offset 0..{MAX_OFFSET}")
        kinds = {k for k, v in KINDS.items() if v == request.kind} if request.kind else None
        states = {s for s, v in STATES.items() if v in set(request.states)} if request.states else None
        with self._redis(context):
            wanted = offset + size + 1
            jobs = self.client.list(limit=wanted if kinds is None and states is None else max(wanted, 5000))
        jobs = [j for j in jobs if (kinds is None or j.kind in kinds) and (states is None or j.state in states)]
        page = jobs[offset : offset + size]
        more = len(jobs) > offset + size
        return jobs_pb2.ListJobsResponse(jobs=[job_to_proto(j) for j in page],
                                         next_page_token=str(offset + size) if more else "")

    def WatchJob(self, request: jobs_pb2.WatchJobRequest, context: grpc.ServicerContext) -> Iterator[jobs_pb2.JobEvent]:
        """The job now, then on every change until it finishes, the client leaves, or SER_WATCH_MAX_S passes
        (or the client's deadline, if sooner): a stream that ends without a ``final`` event is to be reopened."""
        interval = (request.min_interval_ms or 500) / 1000.0
        remaining = remaining_s(context)
        lasts = self.settings.watch_max_s if remaining is None else min(remaining, self.settings.watch_max_s)
        with self._redis(context):
            job = self.client.get(request.id)
            yield self._event(job)
            if job.state.finished:
                return
            last_state, last_sent = job.state, time.monotonic()
            # heartbeats (empty events, one a second while nothing happens) let a gone client free its thread
            for event in self.client.watch(request.id, timeout_s=lasts, heartbeat=True):
                if not context.is_active():
                    return
                if not event:
                    continue
                job = self.client.get(request.id)
                if job.state != last_state or job.state.finished or time.monotonic() - last_sent >= interval:
                    yield self._event(job)
                    last_state, last_sent = job.state, time.monotonic()
                if job.state.finished:
                    return

    @staticmethod
    def _event(job: Job) -> jobs_pb2.JobEvent:
        return jobs_pb2.JobEvent(job=job_to_proto(job), at_unix_ms=int(time.time() * 1000), final=job.state.finished)
