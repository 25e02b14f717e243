"""A storm's digest as a billing admin meets it, through the signed endpoint: one message for the
channel, every balance two clicks away (See all → the list), each one settleable on its own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import interactive_body, post, signed_headers

ADMIN = "U0ADMIN"


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        accounts = [account(f"storm{i:02d}", "4000000000009995", channel="C0STORM", admins=[ADMIN]) for i in range(25)]
        for i, acc in enumerate(accounts):
            acc["name"] = f"Storm {i} <!channel>"
        load_accounts(services, write_accounts(tmp_path / "storm.yml", accounts))
        harness.sandbox.bill()
        services.poller.run_cycle()
        yield harness


def digest_message(h: Harness) -> dict[str, Any]:
    (found,) = [
        m for m in h.fake.messages("C0STORM") if (m.get("metadata") or {}).get("event_type") == "settle_message"
    ]
    return {"channel": "C0STORM", **found}


def test_every_balance_of_a_storm_is_two_clicks_from_its_digest(h: Harness) -> None:
    digest = digest_message(h)
    assert "15 renewals declined" in digest["text"] and "<!channel>" not in json.dumps(digest["blocks"])
    see_all = next(
        e for b in digest["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "digest_list"
    )
    trigger = h.fake.new_trigger()
    resp = h.message_action(ADMIN, {"type": "button", **see_all}, digest, trigger)
    assert resp.status == 200
    view = eventually(
        lambda: next((v for v in h.fake.views.values() if v.get("callback_id") == "settle_digest_list"), None)
    )
    shown = json.dumps(view["blocks"])
    names = {f"Storm {i}" for i in range(10, 25)}
    on_first = {n for n in names if n + " " in shown or n + "*" in shown}
    assert len(on_first) == 10 and "<!channel>" not in shown  # a page of ten, markup escaped

    nav = next(
        e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "digest_page"
    )
    h.modal_action(view["id"], ADMIN, "digest_page", nav["value"])
    second = eventually(
        lambda: json.dumps(h.view(view["id"])["blocks"]) if h.view(view["id"])["blocks"] != view["blocks"] else None
    )
    assert {n for n in names if n + " " in second or n + "*" in second} == names - on_first


def test_a_dutch_storm_with_long_names_and_amounts_fits_slack_and_pings_nobody(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Renewal day at its worst for the layout: Dutch, eight-figure amounts, names as long as Settle
    keeps them, markup in every one. Every block is built through slack_sdk's models (they refuse a
    field too long), and nothing reaches Slack unescaped."""
    hostile = "<!channel> <script>alert(1)</script> *Acme* " + "Ö" * 200
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        accounts = [
            account(f"lang{i:02d}", "4000000000009995", channel="C0STORM", admins=[ADMIN], amount="12345678.90")
            for i in range(14)
        ]
        for acc in accounts:
            acc["name"], acc["language"] = hostile[:200], "nl"
        load_accounts(services, write_accounts(tmp_path / "nl.yml", accounts))
        h.sandbox.bill()
        services.poller.run_cycle()
        digest = digest_message(h)
        shown = json.dumps(digest["blocks"], ensure_ascii=False) + digest["text"]
        assert "4 verlengingen geweigerd" in shown and "12.345.678,90" in shown
        assert "<!channel>" not in shown and "<script>" not in shown
        assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in digest["blocks"])
        see_all = next(
            e
            for b in digest["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "digest_list"
        )
        h.fake.locales[ADMIN] = "nl-NL"
        h.message_action(ADMIN, {"type": "button", **see_all}, digest)
        view = eventually(
            lambda: next((v for v in h.fake.views.values() if v.get("callback_id") == "settle_digest_list"), None)
        )
        listed = json.dumps(view, ensure_ascii=False)
        assert len(view["title"]["text"]) <= 24 and "12.345.678,90" in listed
        assert "<!channel>" not in listed and "<script>" not in listed


def test_a_forged_or_malformed_see_all_opens_nothing(h: Harness) -> None:
    digest = digest_message(h)
    see_all = next(
        e for b in digest["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "digest_list"
    )
    payload = {
        "type": "block_actions",
        "user": {"id": ADMIN, "team_id": h.team},
        "team": {"id": h.team},
        "trigger_id": h.fake.new_trigger(),
        "actions": [{"type": "button", **see_all}],
    }
    body = interactive_body(payload)
    assert post(h.base + "/slack/events", body, signed_headers(body, secret="not-the-secret"))[0] == 401
    forged = {**payload, "actions": [{"type": "button", **see_all, "value": "digest:999999" + "x" * 5000}]}
    assert h.message_action(ADMIN, forged["actions"][0], digest).status == 200  # answered, and refused
    time.sleep(0.5)
    assert not [v for v in h.fake.views.values() if v.get("callback_id") == "settle_digest_list"]
