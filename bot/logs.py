"""Logging set-up: no token, signature or link secret reaches a log line, at any level.

slack_sdk and Bolt log whole requests at DEBUG (bodies with the sandbox's signed links, Slack's
verification token, signatures); the filter rewrites every record before any handler sees it.
"""

from __future__ import annotations

import logging
import re
import sys

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
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("stripe").setLevel(logging.WARNING)  # a line per request at INFO
