"""A storm's digest as a billing admin meets it, through the signed endpoint: one message for the
channel, every balance two clicks away (See all → the list), each one settleable on its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import Harness, eventually, running_server

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
