"""Signing and verifying job webhooks: HMAC-SHA256 over ``"<timestamp>.<body>"``, as Stripe does.

Standard library only, so a receiver can copy this file as it is. The header is
``X-SER-Signature: t=<unix seconds>,v1=<hex digest>``; the timestamp inside the signed text stops a
captured delivery from being replayed later than ``tolerance_s``.
"""
from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-SER-Signature"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-SER-Signature`` header value for ``body``: ``t=<unix s>,v1=<hex>``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={signature(secret, t, body)}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """True when ``header`` signs exactly ``body`` (the raw request bytes, before any JSON parsing) with
    ``secret``, within ``tolerance_s`` of ``now``; False for anything else, never an exception."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))
