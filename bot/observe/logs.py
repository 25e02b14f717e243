"""Logging set-up: no token, signature or link secret reaches a log line, at any level.

slack_sdk and Bolt log whole requests at DEBUG (bodies with the sandbox's signed links, Slack's
verification token, signatures); the filter rewrites every record before any handler sees it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

_SECRETS = [
    # ?token=…, token%3D…, "token": "…" (signed page links, Slack's legacy verification token)
    (re.compile(r"""(token(?:=|%3D|%253D|\\?["']\s*:\s*\\?["']))[^&\s"'\\,}]+""", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+"), "[redacted-slack-token]"),
    (re.compile(r"\b(v0|v1)=[0-9a-f]{64}\b"), r"\1=[redacted]"),  # Slack's and Stripe's signatures
    (re.compile(r"\b(sig(?:=|%3D))[0-9a-f]{16,}"), r"\1[redacted]"),  # signed add-card links
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
            formatter = JsonLines()
            formatter.converter = time.gmtime
            handler.setFormatter(formatter)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." at every start
    logging.getLogger("stripe").setLevel(logging.WARNING)  # a line per request at INFO


# Fields a log call may pass in `extra=` that a JSON line carries (ids only: never card data or tokens).
JSON_FIELDS = (
    "alert_id",
    "settlement_id",
    "batch_id",
    "account_id",
    "invoice_id",
    "provider_ref",
    "request_id",
    "user_id",
)


class JsonLines(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JSON_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)
