"""Structured logs with the request id on every line, and a last guard against personal data.

Code never logs numbers, texts, passwords or keys; ``RedactFilter`` is the safety net that
masks anything shaped like a phone number or a credential should one slip into a message.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# Between the digits of one number: spaces (also URL- and form-encoded), dots, dashes, brackets,
# and "+" (a space in a form-encoded query).
_SEPARATOR = r"(?:[ \u00a0\u2009\u202f.()+\-]|%20|%2[bBdDeE]|%28|%29)"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_KEEP = "|".join([
    # A date, with its time and offset (an ISO timestamp or a log time).
    r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?![-./]\d)"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
    # Loopback and private addresses (a server's, not a person's), without a leading zero.
    rf"(?<![\d.])(?:127|10|192\.168|172\.(?:1[6-9]|2\d|3[01]))(?:\.{_OCTET})+(?![\d.])",
    # A duration.
    r"\d+\.\d+(?=\s?(?:ms|s|us|µs)\b)",
    # Hex ids: UUIDs, request ids, hashes (with a letter, so never a bare number).
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z])",
    r"(?<![0-9A-Za-z])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{20,}(?![0-9A-Za-z])",
])
_NUMBER = rf"(?:\+|%2[bB])?\d(?:{_SEPARATOR}{{0,3}}\d)*"
_PHONE = re.compile(rf"(?P<keep>{_KEEP})|{_NUMBER}")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
MIN_NUMBER_DIGITS = 7
"""A run of this many digits (however separated, wherever it stands: a path, a query, a word) is
masked: the shortest national numbers are this long."""


def _mask_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("keep") is not None:
        return text
    digits = sum(char.isdigit() for char in _ESCAPE.sub("", text))
    if digits < MIN_NUMBER_DIGITS:
        return text
    return "[number]"


_CREDENTIAL = re.compile(r"(?i)\b(bearer|password|passwd|secret|api[_-]?key|token)(\s*[=:]\s*|\s+)(\S+)")


def redact(text: str) -> str:
    text = _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return _PHONE.sub(_mask_number, text)


class RedactFilter(logging.Filter):
    """Adds the request id and masks numbers and credentials in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A request id is checked where it arrives (web/context.py); masked here like any value.
        record.request_id = redact(request_id.get())
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Exception texts can quote input; they pass through the same mask.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key in ("event", "status", "method", "route", "duration_ms", "account_id", "user_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class _Handler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs: marked, so that a second call replaces it."""

    _govsms = True


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Route every logger (ours, Litestar's, uvicorn's) through one redacting handler."""
    handler = _Handler()
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_govsms", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for chatty in ("weasyprint", "fontTools"):  # a line per page and per font while rendering a PDF
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "litestar"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Access lines come from our own middleware (route template, not the raw path).
    logging.getLogger("uvicorn.access").disabled = True
