"""The front door of /slack/events: verify first, then check the shape, then hand over to Bolt.

The signature is checked over the raw bytes before anything parses them: slack_sdk's
SignatureVerifier, after checks that cannot raise on hostile headers or bytes and that say why a
request fails. Unsigned, forged or stale requests get 401 whatever they contain. A signed body that
is not a payload Settle's listeners can read (or that Bolt itself would fail on) gets 400.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

MAX_BODY = 1024 * 1024
MAX_SKEW_SECONDS = 5 * 60
MAX_DEPTH = 32

_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")
_TEAM_ID = re.compile(r"^[TE][A-Z0-9]{1,20}$")

_INTERACTIVE_WITH_USER = {
    "block_actions",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "block_suggestion",
}
# Parts of a payload Bolt reads while building its context: each must be an object when present.
_OBJECTS = ("team", "user", "enterprise", "channel", "container", "view", "message", "event", "authorizations")


def refusal(
    secret: str, raw: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> str | None:
    """Slack's v0 signature over the exact bytes received: None when it holds, else why not, in words
    an operator can act on (never a secret or the signature itself)."""
    if not secret:
        return "no signing secret is configured"
    if not timestamp or not signature:
        return "no Slack signature headers (not sent by Slack)"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "a malformed X-Slack-Request-Timestamp"
    if not _SIGNATURE.match(signature):
        return "a malformed X-Slack-Signature"
    at = time.time() if now is None else now
    skew = at - int(timestamp)
    if abs(skew) > MAX_SKEW_SECONDS:
        return f"a stale timestamp ({abs(skew):.0f} s off; a replay, or this machine's clock is wrong)"
    try:
        raw.decode("utf-8")  # the verifier decodes the body and raises on bytes that are not UTF-8
    except UnicodeDecodeError:
        return "a body that is not UTF-8 (Slack sends UTF-8: not sent by Slack)"
    # slack_sdk's own check (the one Bolt runs after this); the checks above only say why it would fail
    if not SignatureVerifier(secret, clock=_At(at)).is_valid(raw, timestamp, signature):
        return "a signature that does not match (is SLACK_SIGNING_SECRET the app's Signing Secret?)"
    return None


class _At(Clock):
    """The clock the verifier reads: the moment the request is judged at (a test's, or now)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


class RefusalLog:
    """Refused requests logged with their reason, each reason at most once a minute (a flood of
    forged requests must not flood the log), with how many were refused meanwhile."""

    EVERY = 60.0

    def __init__(self, logger: logging.Logger, what: str = "Slack request refused (401)") -> None:
        self._log = logger
        self._what = what
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # reason -> (when last logged, refused since)

    def refused(self, reason: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        # counted by its kind, not its words: a stale timestamp's says how far off it is, and a
        # flood of replays with a timestamp each must be one line a minute and one entry here
        kind = reason.split(" (", 1)[0]
        with self._lock:
            last, since = self._last.get(kind, (float("-inf"), 0))
            if now - last < self.EVERY:
                self._last[kind] = (last, since + 1)
                return
            self._last[kind] = (now, 0)
        more = f" ({since} more since the last such line)" if since else ""
        self._log.warning("%s: %s%s", self._what, reason, more)


def problem(body: str, content_type: str) -> str | None:
    """Why a signed body is not a request Settle can take, or None if its shape is fine."""
    try:
        # JSON or a form, decided as Bolt decides it (a body that starts with "{" is JSON to Bolt
        # whatever its Content-Type: checked as a form, it would pass unread)
        if content_type.split(";")[0].strip().lower() == "application/json" or body.startswith("{"):
            data: Any = json.loads(body)
        else:
            form = parse_qs(body, strict_parsing=True, keep_blank_values=True) if body else {}
            if any(len(values) > 1 for values in form.values()):
                return "a form field appears twice"
            if "payload" in form:
                data = json.loads(form["payload"][0])
            elif "command" in form or "ssl_check" in form:
                return None
            else:
                return "not a Slack request body"
    except (ValueError, TypeError, RecursionError):
        return "body is not valid JSON or form data"
    if nested_deeper_than(data, MAX_DEPTH):
        return "payload is nested too deeply"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "payload has no type"
    for key in _OBJECTS:
        if (
            key in data
            and data[key] is not None
            and not isinstance(data[key], (dict, list) if key == "authorizations" else dict)
        ):
            return f"payload field {key!r} is not an object"
    for key in ("team_id", "user_id", "channel_id", "enterprise_id", "api_app_id", "token", "trigger_id"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            return f"payload field {key!r} is not a string"
    why = _ids_problem(data)
    if why is not None:
        return why
    team = data.get("team")
    if isinstance(team, dict) and team.get("id") is not None and not _is_id(team.get("id"), _TEAM_ID):
        return "payload has a malformed team id"
    kind = data["type"]
    if kind == "event_callback":
        why = _event_problem(data.get("event"))
        if why is not None:
            return why
    if kind in _INTERACTIVE_WITH_USER and not _is_id((data.get("user") or {}).get("id"), _USER_ID):
        return "payload has no well-formed user"
    if kind == "block_actions":
        actions = data.get("actions")
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
        ):
            return "block_actions without actions"
    if kind in ("view_submission", "view_closed"):
        view = data.get("view")
        if not isinstance(view, dict) or not all(isinstance(view.get(k), str) for k in ("id", "type", "callback_id")):
            return "view payload without a view"
        if "private_metadata" in view and not isinstance(view["private_metadata"], str):
            return "view metadata is not a string"
    return None


# Fields of an event Bolt reads ids from (a string, or an object with an `id`) and Settle reads as words.
_EVENT_REFS = ("user", "channel", "team", "user_team", "source_team", "item_user")
_EVENT_WORDS = ("type", "tab", "channel_type", "event_ts")


def _ids_problem(data: dict[str, Any]) -> str | None:
    """The ids Bolt reads while building its context, wherever they sit, are strings (or absent)."""
    auths = data.get("authorizations")
    if isinstance(auths, list):
        for auth in auths:
            if not isinstance(auth, dict) or any(
                auth.get(k) is not None and not isinstance(auth.get(k), (str, bool))
                for k in ("team_id", "enterprise_id", "user_id", "is_enterprise_install", "is_bot")
            ):
                return "payload has a malformed authorization"
    elif isinstance(auths, dict) and auths:
        return "payload has a malformed authorization"
    for key, inner in (("enterprise", "id"), ("team", "enterprise_id"), ("view", "app_installed_team_id")):
        part = data.get(key)
        if isinstance(part, dict) and part.get(inner) is not None and not isinstance(part.get(inner), str):
            return f"payload field {key}.{inner} is not a string"
    return None


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return "event_callback without an event"
    for key in _EVENT_REFS:
        value = event.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if value is not None and not isinstance(value, str):
            return f"event field {key!r} is not an id"
    for key in _EVENT_WORDS:
        if key in event and not isinstance(event[key], str):
            return f"event field {key!r} is not a string"
    return None


def _is_id(value: Any, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.match(value) is not None


def nested_deeper_than(data: Any, limit: int, level: int = 0) -> bool:
    """Whether `data` nests past `limit`, stopping as soon as it does (parsed JSON from outside)."""
    if level > limit:
        return True
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    return any(nested_deeper_than(v, limit, level + 1) for v in children)
