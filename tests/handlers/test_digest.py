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
        accounts = [
            account(
                f"storm{i:02d}", "4000000000009995", channel="C0STORM", admins=[ADMIN], extra_cards=["4242424242424242"]
            )
            for i in range(25)
        ]
        for i, acc in enumerate(accounts):
            acc["name"] = f"Storm {i} <!channel>"
        load_accounts(services, write_accounts(tmp_path / "storm.yml", accounts))
        harness.sandbox.bill()
        services.poller.run_cycle()
        yield harness


def digest_message(h: Harness) -> dict[str, Any]:
    (found,) = [
        m
        for m in h.fake.messages("C0STORM")
        if (m.get("metadata") or {}).get("event_type") == "settle_message" and not m.get("thread_ts")
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


def fact(digest: dict[str, Any], label: str) -> str:
    facts = next(b for b in digest["blocks"] if b.get("block_id") == "digest_facts")["fields"]
    return next(f["text"].split("\n", 1)[1] for f in facts if f["text"].startswith(f"*{label}*"))


def test_a_balance_settled_from_the_digest_moves_the_digest_on(h: Harness) -> None:
    digest = digest_message(h)
    assert (fact(digest, "Still open"), fact(digest, "Settled since")) == ("15", "0")
    button = next(b["accessory"] for b in digest["blocks"] if (b.get("accessory") or {}).get("type") == "button")
    trigger = h.fake.new_trigger()
    assert h.message_action(ADMIN, {"block_id": "digest", **button}, digest, trigger).status == 200
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger), message="no modal from the digest")
    eventually(lambda: h.view(view_id).get("callback_id") == "settle_pick", message="no card choice")
    choice = next(b for b in h.view(view_id)["blocks"] if b.get("block_id") == "method")["element"]
    visa = next(o["value"] for o in choice["options"] if "4242" in json.dumps(o))
    h.choose(view_id, ADMIN, visa)
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id), message=h.view_text(view_id))

    def moved_on() -> dict[str, Any] | None:
        now = digest_message(h)
        return now if fact(now, "Settled since") == "1" else None

    edited = eventually(moved_on, timeout=15, message="the digest never moved on")
    assert fact(edited, "Still open") == "14" and edited["ts"] == digest["ts"]  # edited in place
    # and its thread says who settled what
    replies = eventually(lambda: [m for m in h.fake.messages("C0STORM") if m.get("thread_ts") == digest["ts"]])
    assert "<@U0ADMIN>" in replies[-1]["text"] and "<!channel>" not in replies[-1]["text"]
    actions = h.audit()
    assert actions.count("charge_succeeded") == 1 and "method_chosen" in actions  # audited as an alert's is


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
