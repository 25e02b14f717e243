"""The front door of /stripe/webhook: Stripe's own signature check, a bound on the timestamp both
ways, then the event's shape — before anything is queued for the background.

Stripe's library bounds a signature's age but not its future (a body signed with a leaked secret and
timestamped a year ahead would be accepted for a year), and its `construct_event` builds an object
from any JSON, so a signed `[1]` or a `data` that is a string fails later, in the background, with a
traceback. Here each is a 400 with the reason, and nothing is queued.
"""

from __future__ import annotations

import json
import time
from typing import Any

import stripe

from bot.web.guard import MAX_DEPTH, nested_deeper_than

TOLERANCE_SECONDS = 5 * 60  # Stripe's own default tolerance, here in both directions


def _timestamp(header: str) -> int | None:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            return int(value)
    return None


def webhook_event(
    raw: bytes, header: str | None, secret: str, now: float | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The event a signed body holds, or None and why it was refused (a reason fit for the log and the
    answer: never the secret or the signature)."""
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "body is not UTF-8"
    if not header:
        return None, "no Stripe-Signature header"
    when = _timestamp(header)
    if when is None:
        return None, "a malformed Stripe-Signature header"
    skew = (time.time() if now is None else now) - when
    if abs(skew) > TOLERANCE_SECONDS:
        return None, f"a timestamp {abs(skew):.0f} s {'old' if skew > 0 else 'ahead'} (a replay, or a clock is wrong)"
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return None, "invalid signature (is STRIPE_WEBHOOK_SECRET this endpoint's signing secret?)"
    try:
        data: Any = json.loads(payload)
    except (ValueError, RecursionError):
        return None, "body is not JSON"
    if nested_deeper_than(data, MAX_DEPTH):
        return None, "body is nested too deeply"
    if not isinstance(data, dict):
        return None, "not a Stripe event"
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        return None, "not a Stripe event (no id or type)"
    inner = data.get("data")
    if not isinstance(inner, dict) or not isinstance(inner.get("object"), dict):
        return None, "not a Stripe event (its data.object is not an object)"
    return data, ""
