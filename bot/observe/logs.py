"""Logging set-up: no token, signature or link secret reaches a log line, at any level.

slack_sdk and Bolt log whole requests at DEBUG (bodies with the sandbox's signed links, Slack's
verification token, signatures); the filter rewrites every record before any handler sees it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_SECRETS = [
    # ?token=…, token%3D…, "token": "…" (signed page links, Slack's legacy verification token)
    (re.compile(r"""(token(?:=|%3D|%253D|\\?["']\s*:\s*\\?["']))[^&\s"'\\,}]+""", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+"), "[redacted-slack-token]"),
    (re.compile(r"\b(v0|v1)=[0-9a-f]{64}\b"), r"\1=[redacted]"),  # Slack's and Stripe's signatures
    (re.compile(r"\b(sig(?:=|%3D))[A-Za-z0-9_.\-]{16,}"), r"\1[redacted]"),  # signed add-card links
    (re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[A-Za-z0-9]{8,}"), "[redacted-key]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def configure(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    json_lines = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
        if json_lines:
            handler.setFormatter(JsonLines())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." at every start
    logging.getLogger("stripe").setLevel(logging.WARNING)  # a line per request at INFO


class JsonLines(JsonFormatter):
    """One JSON object per line (LOG_FORMAT=json), for log shippers: python-json-logger's formatter,
    with Settle's field names, and a traceback redacted like the message is. Ids passed in `extra=`
    (alert_id, settlement_id, …) become fields of their own."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            datefmt="%Y-%m-%dT%H:%M:%S",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger", "exc_info": "error"},
            json_ensure_ascii=False,
            json_default=str,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def formatException(self, ei: Any) -> str:
        shown = super().formatException(ei)
        return redact(shown if isinstance(shown, str) else "\n".join(shown))

    def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
        log_record["level"] = str(log_record.get("level", "")).lower()
        return log_record
