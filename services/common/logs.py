"""Structured logging: one JSON object per line, so log shippers need no parsing rules; secrets
(``Settings.secrets``: the tokens, the Redis URL and password) never reach a log line."""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from shared.settings import Settings

# LogRecord attributes that are not user fields
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; ``extra={...}`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RedactingFormatter(logging.Formatter):
    """Another formatter's output with every secret masked (messages, extra fields and tracebacks alike)."""

    def __init__(self, inner: logging.Formatter, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.inner, self.redact = inner, redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


def redact_handlers(logger: logging.Logger, settings: Settings) -> None:
    """Mask secrets in what ``logger``'s handlers write (for loggers set up by others, e.g. Celery's)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter or logging.Formatter(), settings.redact))


def configure_logging(settings: Settings, *, stream: Any = None) -> None:
    """Set up the root logger from settings (level, JSON or plain text, secrets masked). Idempotent."""
    handler = logging.StreamHandler(stream or sys.stderr)
    inner = (JsonFormatter() if settings.log_json
             else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.setFormatter(RedactingFormatter(inner, settings.redact))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_ser_handler", False)]:
        root.removeHandler(old)
    handler._ser_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
