"""Reject malformed Slack requests with a 4xx before Bolt, which raises (a 500) on bodies it cannot parse.

Well-formed requests go on to Bolt, whose middleware verifies the signature. A malformed one is
checked here with slack_sdk's SignatureVerifier (Bolt's own) so it gets 401 unless Slack signed it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

MAX_BODY = 1024 * 1024

_INTERACTIVE_WITH_USER = {
    "block_actions",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "block_suggestion",
}


def problem(body: str, content_type: str) -> str | None:
    """Why the body cannot be a Slack request, or None if its shape is fine."""
    try:
        if content_type.startswith("application/json"):
            data: Any = json.loads(body)
        else:
            form = parse_qs(body, strict_parsing=True, keep_blank_values=True) if body else {}
            if "payload" in form:
                data = json.loads(form["payload"][0])
            elif "command" in form or "ssl_check" in form:
                return None
            else:
                return "not a Slack request body"
    except (ValueError, TypeError):
        return "body is not valid JSON or form data"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "payload has no type"
    kind = data["type"]
    if kind in _INTERACTIVE_WITH_USER and not isinstance((data.get("user") or {}).get("id"), str):
        return "payload has no user"
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
    return None


def signed(secret: str, body: str, headers: dict[str, str]) -> bool:
    return SignatureVerifier(secret).is_valid(
        body=body,
        timestamp=headers.get("x-slack-request-timestamp", ""),
        signature=headers.get("x-slack-signature", ""),
    )
