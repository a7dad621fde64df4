"""Errors as RFC 9457 problem details, with the project's stable error code; gRPC statuses mapped in one place.

Every failure the API answers is ``application/problem+json``: ``type``, ``title``, ``status``, ``detail``,
``instance`` and ``code`` (the ``shared.errors`` code, or the gateway's ``ser-error-code`` trailer), so a
client tells problems apart without parsing messages, as gRPC clients do.
"""
from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.errors import map_exception, status_error_code, trailer_code
from shared.errors import SerError

log = logging.getLogger("ser.http")
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:ser:problem:"

HTTP_BY_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.OUT_OF_RANGE: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# stable codes whose HTTP status is more exact than their gRPC status says
HTTP_BY_CODE: dict[str, int] = {"payload_too_large": 413, "audio_too_long": 413, "message_too_large": 413}
BAD_GATEWAY = 502  # INTERNAL / UNKNOWN / DATA_LOSS from the gateway


class Problem(Exception):
    """Raise to answer with a problem-details body."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def http_status(code: grpc.StatusCode, error_code: str = "") -> int:
    return HTTP_BY_CODE.get(error_code) or HTTP_BY_GRPC.get(code, BAD_GATEWAY)


def from_rpc_error(exc: grpc.RpcError) -> Problem:
    """A gateway status as a problem: its stable code from the trailer, its message as the detail."""
    call = callable(getattr(exc, "code", None))  # a grpc.Call, or grpc.aio's AioRpcError (not a grpc.Call)
    code = exc.code() if call else grpc.StatusCode.UNKNOWN
    details = (exc.details() if call else "") or code.name
    error_code = status_error_code(code, trailer_code(exc), details) if call else ""
    if code == grpc.StatusCode.UNAVAILABLE:
        error_code = error_code or "gateway_unavailable"
    return Problem(http_status(code, error_code), error_code or code.name.lower(), details)


def from_ser_error(exc: SerError) -> Problem:
    mapped = map_exception(exc)
    return Problem(http_status(mapped.code, mapped.error_code), mapped.error_code, mapped.message)


def response(request: Request, problem: Problem) -> JSONResponse:
    status = HTTPStatus(problem.status)
    body: dict[str, Any] = {"type": f"{TYPE_PREFIX}{problem.code}", "title": status.phrase, "status": status.value,
                            "detail": problem.detail, "instance": request.url.path, "code": problem.code}
    return JSONResponse(body, status_code=status.value, media_type=MEDIA_TYPE, headers=problem.headers)


def install(app: FastAPI, redact) -> None:
    """Every error path of ``app`` answers problem details; secrets are scrubbed from details (``redact``)."""

    def answer(request: Request, problem: Problem) -> JSONResponse:
        problem.detail = redact(problem.detail)
        return response(request, problem)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return answer(request, exc)

    @app.exception_handler(SerError)
    async def _ser_error(request: Request, exc: SerError) -> JSONResponse:
        return answer(request, from_ser_error(exc))

    @app.exception_handler(grpc.RpcError)
    async def _rpc_error(request: Request, exc: grpc.RpcError) -> JSONResponse:
        return answer(request, from_rpc_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return answer(request, Problem(422, "invalid_input", detail or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 413: "payload_too_large"}.get(exc.status_code, f"http_{exc.status_code}")
        return answer(request, Problem(exc.status_code, code, str(exc.detail), dict(exc.headers or {})))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("unhandled error in %s %s (ref %s)", request.method, request.url.path, ref, exc_info=exc)
        return answer(request, Problem(500, f"internal:{ref}", f"internal error (ref {ref})"))
