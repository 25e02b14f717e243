"""The front door of /stripe/webhook: Stripe's own signature check, a bound on the timestamp both
ways, then the event's shape — before anything is queued for the background.

Stripe's library bounds a signature's age but not its future (a body signed with a leaked secret and
timestamped a year ahead would be accepted for a year), and its `construct_event` builds an object
from any JSON, so a signed `[1]` or a `data` that is a string fails later, in the background, with a
traceback. Here each is a 400 with the reason, and nothing is queued.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import stripe

from bot.web.guard import MAX_DEPTH, nested_deeper_than

TOLERANCE_SECONDS = 5 * 60  # Stripe's own default tolerance, here in both directions


_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


def _parsed(header: str) -> tuple[int, list[str]] | None:
    """The header read exactly as Stripe's library reads it (items split on "," then "="), and only
    if it is unambiguous: one `t`, all digits, and every v1 signature 64 hex digits. The timestamp
    bounded here is then the one the signature covers (two `t`s, or one Stripe's parser reads
    differently, would let an old body through with a fresh-looking time)."""
    items = [item.split("=", 2) for item in header.split(",")]
    times = [i[1] for i in items if i[0] == "t" and len(i) == 2]
    signatures = [i[1] for i in items if i[0] == "v1" and len(i) == 2]
    if sum(1 for i in items if i[0] == "t") != 1 or len(times) != 1:
        return None
    if not (times[0].isascii() and times[0].isdigit() and len(times[0]) <= 12):
        return None
    if not signatures or not all(_SIGNATURE.match(sig) for sig in signatures):
        return None
    return int(times[0]), signatures


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
    parsed = _parsed(header)
    if parsed is None:
        return None, "a malformed Stripe-Signature header"
    when, signatures = parsed
    skew = (time.time() if now is None else now) - when
    if abs(skew) > TOLERANCE_SECONDS:
        return None, f"a timestamp {abs(skew):.0f} s {'old' if skew > 0 else 'ahead'} (a replay, or a clock is wrong)"
    canonical = ",".join([f"t={when}", *(f"v1={sig}" for sig in signatures)])  # what was checked above
    try:
        stripe.WebhookSignature.verify_header(payload, canonical, secret, tolerance=None)
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
