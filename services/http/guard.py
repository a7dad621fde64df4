"""What every request passes before a route sees it: the bearer token, a body limit counted while the body
arrives, and the response headers every answer carries.

The token is checked from the headers alone, so a request without it is refused (401) with its body
unread and unparsed. A body is refused (413) by its declared Content-Length, or, chunked, as soon as the
bytes read pass the route's limit (``BodyTooLarge``, raised from ``receive`` into whatever is reading):
never held whole first. ``Referrer-Policy: no-referrer`` keeps page URLs out of other sites' logs.
"""
from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.http import problems
from shared.settings import Settings

Message = MutableMapping[str, Any]
SECURITY_HEADERS = ((b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff"))


class BodyTooLarge(HTTPException):
    """413 from inside ``receive``; an HTTPException, so FastAPI's own body parsing passes it on unchanged."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


def bearer_problem(settings: Settings, authorization: str | None) -> problems.Problem | None:
    """None when the request may go on: no token configured, or ``Authorization: Bearer <the token>``."""
    if not settings.gateway_token:
        return None
    scheme, _, presented = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return problems.Problem(401, "unauthenticated", "missing `Authorization: Bearer <token>`",
                                {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(presented.strip().encode(), settings.gateway_token.encode()):
        return problems.Problem(401, "unauthenticated", "invalid bearer token",
                                {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return None


def counted(receive: Receive, limit: int, detail: str) -> Callable[[], Awaitable[Message]]:
    """``receive`` that raises BodyTooLarge once the body read so far passes ``limit`` bytes."""
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge(detail)
        return message

    return receive_counted


class RequestGuard:
    """ASGI middleware: ``protected(path)`` says which paths need the token, ``body_limit(scope)`` how many
    body bytes a request may send and the 413's detail."""

    def __init__(self, app: ASGIApp, *, settings: Settings, protected: Callable[[str], bool],
                 body_limit: Callable[[Scope], tuple[int, str]]) -> None:
        self.app, self.settings, self.protected, self.body_limit = app, settings, protected, body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        request = Request(scope)
        problem = bearer_problem(self.settings, request.headers.get("authorization")) \
            if self.protected(scope["path"]) else None
        limit, detail = self.body_limit(scope)
        declared = request.headers.get("content-length", "")
        if problem is None and declared.isdigit() and int(declared) > limit:
            problem = problems.Problem(413, "payload_too_large", detail)
        if problem is not None:
            problem.detail = self.settings.redact(problem.detail)
            await problems.response(request, problem)(scope, receive, send_with_headers)
            return
        await self.app(scope, counted(receive, limit, detail), send_with_headers)
