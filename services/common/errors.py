"""One mapping from the library's typed errors to gRPC status codes, applied by an interceptor.

Servicers raise ``shared.errors`` types (or let them propagate) and never write try/except per
RPC. Anything unexpected becomes INTERNAL with a safe message and a reference id that is also in
the server log, so a bad request never takes a server down and never leaks internals.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import grpc

from services.common.deadlines import RequestExpired, expired
from shared.errors import ConfigMismatch, InvalidInput, MessageTooLarge, NotFound, Overloaded, SerError

ERROR_CODE_METADATA_KEY = "ser-error-code"

_STATUS_BY_TYPE: tuple[tuple[type[SerError], grpc.StatusCode], ...] = (
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (MessageTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ConfigMismatch, grpc.StatusCode.FAILED_PRECONDITION),
)

log = logging.getLogger("ser.rpc")


def status_error_code(code: grpc.StatusCode, error_code: str, details: str) -> str:
    """The stable code of a status a client received: the server's ``ser-error-code`` trailer when it sent
    one; for RESOURCE_EXHAUSTED without one (gRPC's own message size limit, "... larger than max ..."),
    ``message_too_large``, else ``overloaded``, so a too-large item is never mistaken for a full queue."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and error_code not in (Overloaded.code, MessageTooLarge.code):
        return MessageTooLarge.code if "larger than max" in details else Overloaded.code
    return error_code


def trailer_code(exc: grpc.Call) -> str:
    try:
        return next((str(v) for k, v in (exc.trailing_metadata() or ()) if k == ERROR_CODE_METADATA_KEY), "")
    except Exception:  # noqa: BLE001 - a channel-level error has no metadata
        return ""


@dataclass(frozen=True)
class MappedError:
    """What the client receives for an exception."""

    code: grpc.StatusCode
    message: str
    error_code: str  # stable shared.errors code, sent as trailing metadata


def map_exception(exc: BaseException) -> MappedError:
    """The status for an exception raised by a servicer."""
    if isinstance(exc, RequestExpired):
        return MappedError(exc.status_code, str(exc), exc.status_code.name.lower())
    if isinstance(exc, SerError):
        for cls, code in _STATUS_BY_TYPE:
            if isinstance(exc, cls):
                return MappedError(code, str(exc) or cls.__name__, exc.code)
        return MappedError(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}", exc.code)
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        # a downstream call failed: pass its status and stable code through (UNAVAILABLE stays retryable,
        # a full queue stays ``overloaded``, a too-large message ``message_too_large``)
        details = exc.details() or exc.code().name
        return MappedError(exc.code(), details, status_error_code(exc.code(), trailer_code(exc), details) or "downstream")
    ref = uuid.uuid4().hex[:12]
    return MappedError(grpc.StatusCode.INTERNAL, f"internal error (ref {ref})", f"internal:{ref}")


def abort_with(exc: BaseException, context: grpc.ServicerContext, method: str) -> None:
    """Abort the RPC with the mapped status; logs the traceback of unexpected errors. Always raises."""
    # once the client is gone, whatever failed afterwards (often the request iterator itself) is no server fault
    gone = None if isinstance(exc, RequestExpired) else expired(context)
    mapped = map_exception(gone or exc)
    if mapped.code == grpc.StatusCode.INTERNAL:
        log.error("unhandled error in %s (%s)", method, mapped.error_code, exc_info=exc)
    context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, mapped.error_code),))
    context.abort(mapped.code, mapped.message)


def already_set(context: grpc.ServicerContext) -> bool:
    """True when the servicer already chose a status (e.g. called context.abort itself)."""
    code = context.code()
    return code is not None and code != grpc.StatusCode.OK
