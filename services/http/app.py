"""The HTTP/JSON API: calls, jobs (with server-sent events), models, probes, and the web view's pages.

Every /v1 resource is the gateway's protobuf message in protobuf's JSON mapping (``proto_json``), so the
HTTP and gRPC answers cannot drift. With SER_GATEWAY_TOKEN set, /v1 needs ``Authorization: Bearer <token>``
(the gateway's own token, which this service also sends on); the pages and probes are open, as they hold
no data. The token is checked, and every body limited while it arrives, before any route reads it
(``services.http.guard``): an upload is refused (413) as soon as it passes SER_MAX_AUDIO_MB, before it is
whole, and is sent on in chunks from disk; any other body is at most MAX_JSON_BYTES (1 MiB).
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from google.protobuf.json_format import ParseError
from pydantic import ValidationError
from ser.v1 import analysis_pb2, jobs_pb2
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Scope

from services.http import problems
from services.http.batch_results import batch_files
from services.http.gateway_client import GatewayClient
from services.http.guard import RequestGuard
from services.http.job_requests import JobRequest
from services.http.problems import Problem
from services.http.recent_calls import RecentCalls
from services.jobs.analyze_client import analyze_options
from services.jobs.job_proto import proto_json
from shared.errors import InvalidInput, NotFound
from shared.paths import PathPolicy
from shared.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
JOB_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}}
FORM_SLACK_BYTES = 1 << 20  # multipart boundaries, headers and the options field around the audio
MAX_JSON_BYTES = 1 << 20
COPY_CHUNK = 1 << 20
ANALYZE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the recording (WAV, FLAC, OGG, MP3)"},
        "options": {"type": "string", "description": "ser.v1.AnalyzeOptions as JSON"}}}},
    "application/json": {"schema": {"type": "object", "required": ["path"], "properties": {
        "path": {"type": "string", "description": "a recording under SER_DATA_ROOTS"},
        "options": {"type": "object", "description": "ser.v1.AnalyzeOptions"}}}}}}}


def audio_too_large(limit: int) -> str:
    return f"the audio is over the {limit >> 20} MiB limit (SER_MAX_AUDIO_MB)"


def too_large(limit: int) -> Problem:
    return Problem(413, "payload_too_large", audio_too_large(limit))


def body_limits(settings: Settings) -> Callable[[Scope], tuple[int, str]]:
    """Bytes a request body may hold: a multipart upload to /v1/calls:analyze the audio limit plus the form
    around it, anything else a JSON document (MAX_JSON_BYTES)."""
    upload = settings.max_audio_bytes + FORM_SLACK_BYTES
    json_body = f"a request body is at most {MAX_JSON_BYTES} bytes"

    def limit(scope: Scope) -> tuple[int, str]:
        if scope["path"] == "/v1/calls:analyze" and Headers(scope=scope).get("content-type", "").lower().startswith(
                "multipart/form-data"):
            return upload, audio_too_large(settings.max_audio_bytes)
        return MAX_JSON_BYTES, json_body

    return limit


def parse_json(body: bytes) -> Any:
    """A JSON body; 422 for one that is not JSON or nests too deeply to parse (never a RecursionError's 500)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidInput("the JSON body nests too deeply") from None
    except ValueError as exc:
        raise Problem(400, "invalid_input", f"the body is not JSON: {exc}") from None


def options_field(raw: Any) -> analysis_pb2.AnalyzeOptions:
    """The ``options`` field, a JSON object or its text, as ser.v1.AnalyzeOptions; 422 invalid_input when
    it is not one."""
    try:
        return analyze_options(json.loads(raw) if isinstance(raw, str) and raw.strip() else raw)
    except RecursionError:
        raise InvalidInput("options nest too deeply to be ser.v1.AnalyzeOptions") from None
    except (ValueError, ParseError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"options are not ser.v1.AnalyzeOptions JSON: {exc}") from None


def copy_file(source, target: Path, max_bytes: int) -> int:
    """Copy a file object to ``target`` in chunks; 413 once it passes ``max_bytes``."""
    size = 0
    with open(target, "wb") as out:
        while chunk := source.read(COPY_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes)
            out.write(chunk)
    return size


def create_app(settings: Settings | None = None, *, gateway_address: str | None = None) -> FastAPI:
    """The app over the gateway at ``gateway_address`` (default SER_GATEWAY_ADDR)."""
    settings = settings or Settings.from_env()
    gateway = GatewayClient(gateway_address or settings.address("gateway"), settings)
    calls = RecentCalls(settings.http_calls_dir, settings.http_keep_calls)
    paths = PathPolicy.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await gateway.close()

    app = FastAPI(title="Speech emotion recognition API", version="1",
                  description="Calls, jobs and models over HTTP/JSON; resources are the ser.v1 protobuf messages "
                              "in protobuf's JSON mapping.", lifespan=lifespan)
    problems.install(app, settings.redact)
    app.add_middleware(RequestGuard, settings=settings, protected=lambda path: path.startswith("/v1"),
                       body_limit=body_limits(settings))
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    v1 = APIRouter(prefix="/v1")  # the token is checked before any route, with the body unread (RequestGuard)

    @app.get("/", include_in_schema=False)
    def call_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/jobs", include_in_schema=False)
    def jobs_page() -> FileResponse:
        return FileResponse(STATIC / "jobs.html")

    @app.get("/healthz", tags=["probes"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"])
    def readyz() -> dict[str, str]:
        """The gateway answers its health check with SERVING (else 503)."""
        import grpc

        try:
            status = gateway.ready()
        except grpc.RpcError as exc:
            raise Problem(503, "gateway_unavailable", f"gateway at {gateway.address}: {exc.code().name}") from None
        if status != "SERVING":
            raise Problem(503, "gateway_unavailable", f"gateway at {gateway.address} is {status}")
        return {"status": status, "gateway": gateway.address}

    async def receive_upload(request: Request, call_id: str, audio: Path) -> tuple[str, analysis_pb2.AnalyzeOptions]:
        try:  # the body is counted as it arrives (RequestGuard)
            form = await request.form(max_files=1, max_fields=4)
        except MultiPartException as exc:
            raise Problem(400, "invalid_input", f"malformed multipart body: {exc.message}") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("multipart field `file` (the recording) is missing")
            options = options_field(form.get("options"))
            await run_in_threadpool(copy_file, upload.file, audio, settings.max_audio_bytes)
            return upload.filename or "upload", options
        finally:
            await form.close()

    async def receive_path(request: Request, audio: Path) -> tuple[str, analysis_pb2.AnalyzeOptions]:
        data = parse_json(await request.body())  # at most MAX_JSON_BYTES (RequestGuard)
        if not isinstance(data, dict) or not isinstance(data.get("path"), str) or not data["path"]:
            raise InvalidInput('a JSON body is {"path": "<recording under SER_DATA_ROOTS>", "options": {...}}')
        source = paths.read(data["path"])
        if not source.is_file():
            raise NotFound(f"no such recording: {data['path'][:200]}")
        options = options_field(data.get("options"))
        with open(source, "rb") as fh:
            await run_in_threadpool(copy_file, fh, audio, settings.max_audio_bytes)
        return source.name, options

    @v1.post("/calls:analyze", tags=["calls"], openapi_extra=ANALYZE_BODY)
    async def analyze_call(request: Request) -> JSONResponse:
        """The same result as CallAnalysis.AnalyzeCall, as JSON; the call is kept for the web view."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in ("multipart/form-data", "application/json"):
            raise Problem(415, "unsupported_media_type",
                          "send multipart/form-data (field `file`) or application/json ({\"path\": ...})")
        call_id, audio = calls.new()
        try:
            if media == "multipart/form-data":
                filename, options = await receive_upload(request, call_id, audio)
            else:
                filename, options = await receive_path(request, audio)
            response = await run_in_threadpool(gateway.analyze, audio, options, call_id)
        except BaseException:
            calls.discard(call_id)
            raise
        result = proto_json(response)
        calls.save(call_id, filename, result)
        return JSONResponse(result)

    @v1.get("/calls", tags=["calls"])
    def list_calls() -> dict[str, list[dict[str, Any]]]:
        """The kept calls (SER_HTTP_KEEP_CALLS), newest first."""
        return {"calls": calls.list()}

    @v1.get("/calls/{call_id}", tags=["calls"])
    def get_call(call_id: str) -> JSONResponse:
        return JSONResponse(calls.result(call_id))

    @v1.get("/calls/{call_id}/audio", tags=["calls"])
    def get_call_audio(call_id: str) -> FileResponse:
        """The recording as uploaded; HTTP Range requests are served (seeking)."""
        path, content_type = calls.audio(call_id)
        return FileResponse(path, media_type=content_type)

    @v1.post("/jobs", tags=["jobs"], status_code=201, openapi_extra=JOB_BODY)
    async def submit_job(request: Request) -> JSONResponse:
        """Submit a job; the body is a JobRequest, parsed here so a pathological document is a 422."""
        try:
            body = JobRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
        method, rpc_request = body.rpc()
        reply = await run_in_threadpool(gateway.submit, method, rpc_request)
        return JSONResponse(proto_json(reply), status_code=201)

    @v1.get("/jobs", tags=["jobs"])
    def list_jobs(limit: int = Query(50, ge=1, le=500), page_token: str = "") -> JSONResponse:
        reply = gateway.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=limit, page_token=page_token), timeout=30)
        return JSONResponse(proto_json(reply))

    @v1.get("/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: str) -> JSONResponse:
        return JSONResponse(proto_json(gateway.jobs.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=30)))

    @v1.get("/jobs/{job_id}/results", tags=["jobs"])
    def job_results(job_id: str, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
                    ) -> dict[str, Any]:
        """A batch's files: the latest outcome of each (analysed, or its error), from its results.jsonl."""
        job = gateway.jobs.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=30)
        return batch_files(job.result_uri, paths, offset=offset, limit=limit)

    @v1.delete("/jobs/{job_id}", tags=["jobs"])
    def cancel_job(job_id: str) -> JSONResponse:
        reply = gateway.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=job_id, reason="HTTP DELETE"), timeout=30)
        return JSONResponse(proto_json(reply))

    @v1.get("/jobs/{job_id}/events", tags=["jobs"])
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: `event: job`, data = the Job JSON, on every change; ends after a final state, or
        without one after SER_WATCH_MAX_S (reconnect). A client that leaves frees the stream within seconds."""
        get = jobs_pb2.GetJobRequest(id=job_id)  # an unknown job is a 404, not a stream
        await run_in_threadpool(gateway.jobs.GetJob, get, timeout=30)
        return StreamingResponse(gateway.job_events(job_id, request.is_disconnected), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @v1.get("/models", tags=["models"])
    def list_models() -> dict[str, list[dict[str, Any]]]:
        """The registry's models, as `ser models list` shows them."""
        from services.cli.models import metric_of
        from shared.registry.store import ModelRegistry

        root = settings.artifacts_dir / "registry"
        entries = ModelRegistry(root).list() if root.is_dir() else []
        return {"models": [{"name": e.name, "version": e.version, "aliases": list(e.aliases),
                            "architecture": e.card.architecture, "labels": list(e.card.labels),
                            "uar": metric_of(e.card), "protocol": e.card.protocol,
                            "training_corpora": list(e.card.training_corpora),
                            "num_parameters": e.card.num_parameters, "created_at": e.card.created_at}
                           for e in entries]}

    app.include_router(v1)
    return app


