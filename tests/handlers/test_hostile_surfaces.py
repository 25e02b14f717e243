"""The surfaces added for /settle, App Home, follow-ups and card warnings, tried as an attacker would:
markup and 5,000-character strings in every outside field they show, unsigned and malformed requests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import post, signed_headers

HOSTILE = "<!channel> <script>alert(1)</script> <@U0BOSS> " + "x" * 5000
MARKUP = ("<!channel>", "<script>", "<@U0BOSS>")


def mrkdwn(node: Any) -> str:
    if isinstance(node, dict):
        own = node["text"] if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str) else ""
        return own + "".join(mrkdwn(v) for v in node.values())
    if isinstance(node, list):
        return "".join(mrkdwn(v) for v in node)
    return ""


@pytest.fixture
def h(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        acc = account("evil", "4242424242424242", channel="C0EVIL", admins=[ADMIN], extra_cards=["4000000000009995"])
        acc["name"] = HOSTILE[:200]  # the loader's limit for names
        acc["payment_methods"][0]["exp"] = "01/20"
        acc["renewal"] = {"on": (datetime.now(UTC) + timedelta(days=5)).date().isoformat(), "amount": "9.99"}
        acc["invoices"] = [{"amount": "12.00", "description": HOSTILE[:1000]}]
        load_accounts(services, write_accounts(tmp_path / "evil.yml", [acc]))
        services.provider.set_default_payment_method("evil", "pm_evil_2")  # type: ignore[attr-defined]
        harness.sandbox.bill()  # declined on ·· 9995: the alert
        # the next renewal goes back to the expired ·· 4242: the warning (not about the alert's card)
        services.provider.set_default_payment_method("evil", "pm_evil_1")  # type: ignore[attr-defined]
        services.poller.run_cycle()
        yield harness


def test_settle_with_markup_and_a_long_string_answers_plainly(h: Harness) -> None:
    for typed in (HOSTILE, "<script>", "<!channel>"):
        resp, _trigger = h.command(ADMIN, typed)
        assert resp.status == 200
        text = resp.body if not resp.body.startswith("{") else mrkdwn(resp.json()) + resp.json().get("text", "")
        assert not any(m in text for m in MARKUP) and len(text) < 4000


def test_the_list_home_alert_and_warning_show_markup_as_text(h: Harness) -> None:
    listed = h.command(ADMIN)[0].json()
    home = h.open_home(ADMIN)  # the fake validates every block's length
    alert = next(m for m in h.fake.messages("C0EVIL") if (m.get("metadata") or {}).get("event_type"))
    warning = next(m for m in h.fake.messages("C0EVIL") if "renewal on" in m.get("text", ""))
    for shown in (
        mrkdwn(listed) + listed["text"],
        mrkdwn(home["blocks"]),
        mrkdwn(alert["blocks"]) + alert["text"],
        mrkdwn(warning["blocks"]) + warning["text"],
    ):
        assert "&lt;!channel&gt;" in shown or "&lt;script&gt;" in shown
        assert not any(m in shown for m in MARKUP)


def test_hostile_snooze_dates_and_assignees_change_nothing(h: Harness) -> None:
    h.menu(ADMIN, "snooze_date", invoice_id="in_evil_1")
    view_id = eventually(
        lambda: next((v["id"] for v in h.fake.views.values() if v.get("callback_id") == "settle_snooze"), None)
    )
    for day in ("<script>", HOSTILE, "2026-02-30"):
        resp = h.submit(view_id, ADMIN, {"snooze_date": {"snooze_date": {"type": "datepicker", "selected_date": day}}})
        assert resp.json()["response_action"] == "errors"
    h.assign(ADMIN, "<!channel>", invoice_id="in_evil_1")
    eventually(lambda: any("not a person" in c.params["text"] for c in h.fake.calls_to("chat.postEphemeral")))
    assert h.alert_row("in_evil_1").snoozed_until is None and h.alert_row("in_evil_1").assignee is None


def test_unsigned_and_malformed_commands_and_events_are_refused(h: Harness) -> None:
    body = urlencode({"command": "/settle", "text": "", "user_id": ADMIN, "team_id": "T1", "channel_id": "C0EVIL"})
    assert post(h.base + "/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded"})[0] == 401
    event = json.dumps({"type": "event_callback", "event": {"type": "app_home_opened", "user": ADMIN}})
    assert post(h.base + "/slack/events", event, {"Content-Type": "application/json"})[0] == 401
    assert h.event({"type": "app_home_opened", "user": HOSTILE, "tab": "home"}).status == 200
    assert h.fake.homes == {}


def test_signed_events_with_fields_of_the_wrong_type_are_400_without_a_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for event in (
        {"type": "app_home_opened", "user": 12345, "tab": "home"},
        {"type": "app_home_opened", "user": ["U0ADMIN"], "tab": "home"},
        {"type": 7, "user": ADMIN},
        {"type": "app_home_opened", "user": ADMIN, "tab": {"home": 1}},
        {"type": "app_home_opened", "user": ADMIN, "channel": 5},
    ):
        assert h.event(event).status == 400, event
    time.sleep(0.3)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert h.fake.homes == {}


def test_signed_payloads_bolt_would_fail_on_are_400_without_a_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Ids of the wrong type where Bolt reads them (authorizations, enterprise), and a form-typed body
    Bolt reads as JSON: refused before Bolt, with the reason, no traceback."""
    event = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": ADMIN, "tab": "home"},
    }
    hostile = [
        ({**event, "authorizations": [5]}, "application/json"),
        ({**event, "authorizations": {"a": 1}}, "application/json"),
        ({**event, "authorizations": [[1]]}, "application/json"),
        ({**event, "authorizations": [{"team_id": 5, "user_id": "U0BOT"}]}, "application/json"),
        ({**event, "enterprise": {"id": 5}}, "application/json"),
    ]
    for payload, content_type in hostile:
        body = json.dumps(payload)
        status, text = post(h.base + "/slack/events", body, signed_headers(body, content_type=content_type))
        assert status == 400, (payload, status, text)
    body = '{"type":"block_actions","user":5,"x=":"&command=1"}'  # a form to a form parser, JSON to Bolt
    status, _text = post(h.base + "/slack/events", body, signed_headers(body))
    assert status == 400
    time.sleep(0.3)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


def test_link_shared_and_approval_buttons_with_hostile_bytes_change_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 21's unfurls and issue 20's Approve / Reject: unsigned, malformed, markup and 5,000
    characters; nothing unfurls, nothing is decided, no traceback."""
    shared = {"type": "link_shared", "channel": "C0EVIL", "user": ADMIN, "message_ts": "1.2"}
    body = json.dumps({"type": "event_callback", "event": {**shared, "links": []}})
    assert post(h.base + "/slack/events", body, {"Content-Type": "application/json"})[0] == 401
    for links in (
        "x",
        [5],
        [{"url": 5}],
        [{"url": HOSTILE}],
        [{"url": "http://settle.test/sandbox/invoices/" + HOSTILE}],
        [{"url": "https://dashboard.stripe.com/invoices/in_evil_1<!channel>"}],
        [{"url": "javascript:alert(1)"}],
    ):
        assert h.event({**shared, "links": links}).status == 200
    for value in (
        HOSTILE,
        "<script>",
        json.dumps({"k": "approval", "id": "1"}),
        json.dumps({"k": "approval", "id": -1}),
    ):
        for action_id in ("approval_approve", "approval_reject"):
            action = {"action_id": action_id, "block_id": "approval", "type": "button", "value": value}
            assert h.alert_action(ADMIN, action, "in_evil_1").status == 200
    time.sleep(0.5)
    assert h.fake.calls_to("chat.unfurl") == []
    said = [c.params["text"] for c in h.fake.calls_to("chat.postEphemeral")]
    assert said and not any(m in t for t in said for m in MARKUP)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
