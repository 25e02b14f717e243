"""The Stripe webhook's front door on its own: the timestamp bounded is the one the signature covers,
and no header or body makes it raise (each is refused with a reason)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from bot.web.stripe_guard import webhook_event

SECRET = "whsec_test_0123456789"
EVENT = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}})


def sign(t: int, payload: str = EVENT) -> str:
    return hmac.new(SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()


def test_a_fresh_signed_event_is_taken() -> None:
    now = int(time.time())
    event, why = webhook_event(EVENT.encode(), f"t={now},v1={sign(now)}", SECRET)
    assert event is not None and event["id"] == "evt_1" and why == ""
    # Stripe sends one v1 per endpoint secret during a rotation: any of them may match
    assert webhook_event(EVENT.encode(), f"t={now},v1={'0' * 64},v1={sign(now)}", SECRET)[0] is not None


@pytest.mark.parametrize(
    "header",
    [
        "t={old}=x,t={now},v1={sig}",  # Stripe's parser reads t={old}; a lenient one t={now}
        "t=+{old},t={now},v1={sig}",
        "t={now},t={old},v1={sig}",
        "t= {now},v1={sig}",
        "t={old},v1={sig}",  # a month old: a replay
        "t={ahead},v1={ahead_sig}",  # a year ahead: a leaked secret's body kept for later
    ],
)
def test_an_old_body_never_passes_with_a_fresh_looking_time(header: str) -> None:
    now = int(time.time())
    old, ahead = now - 30 * 86400, now + 365 * 86400
    filled = header.format(old=old, now=now, ahead=ahead, sig=sign(old), ahead_sig=sign(ahead))
    event, why = webhook_event(EVENT.encode(), filled, SECRET)
    assert event is None and why


@pytest.mark.parametrize(
    "header",
    ["", "t=", "v1=", "t=1", "t=abc,v1=00", "t={now},v1=é", "t={now},v1=" + "g" * 64, ",,,=,", "t=" + "9" * 40],
)
def test_malformed_headers_are_refused_without_raising(header: str) -> None:
    event, why = webhook_event(EVENT.encode(), header.format(now=int(time.time())), SECRET)
    assert event is None and why


@pytest.mark.parametrize(
    "payload",
    ["[1]", "null", '"x"', "[" * 3000 + "]" * 3000, '{"id": "evt_1", "type": "x", "data": "s"}', "{", "NaN"],
)
def test_signed_bodies_that_are_not_events_are_refused_without_raising(payload: str) -> None:
    now = int(time.time())
    event, why = webhook_event(payload.encode(), f"t={now},v1={sign(now, payload)}", SECRET)
    assert event is None and why
    assert webhook_event(b"\xff\xfe", f"t={now},v1={sign(now)}", SECRET)[0] is None
