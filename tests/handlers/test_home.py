"""Settle's App Home end to end: opened by a signed app_home_opened event, published with
views.publish to the fake Slack, and published again when balances change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, OTHER_ADMIN, STRANGER
from tests.harness import Harness, eventually, running_server


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        accounts = [
            account(
                "acme",
                "4000000000009995",
                channel="C0ACME",
                admins=[ADMIN],
                extra_cards=["4242424242424242", "4000002760003184"],
            ),
            account(
                "globex", "4000000000000002", channel="C0GLOBEX", admins=["U0GLOBEX"], currency="CHF", amount="80.00"
            ),
        ]
        accounts[0]["name"] = "Acme <!channel>"
        load_accounts(services, write_accounts(tmp_path / "accounts.yml", accounts))
        harness.sandbox.bill()
        services.poller.run_cycle()
        yield harness


def text(view: dict[str, Any]) -> str:
    return json.dumps(view.get("blocks", []), ensure_ascii=False)


def test_home_shows_what_the_user_may_settle_and_their_rights(h: Harness) -> None:
    home = h.open_home(ADMIN)
    body = text(home)
    assert home["type"] == "home"
    assert "Open balances you may settle: 1* — €129.00 owed" in body
    assert "Acme &lt;!channel&gt;" in body and "<!channel>" not in body
    assert "1 other open balance: not yours to settle." in body
    assert "settle_open" in body and "Globex" not in body

    everyone = text(h.open_home(OTHER_ADMIN))  # one of SETTLE_ADMINS
    assert ("every account" in everyone and "€129.00 · CHF" in everyone) or "CHF" in everyone
    assert "Open balances you may settle: 2*" in everyone

    nobody = text(h.open_home(STRANGER))
    assert "Nothing to settle" in nobody and "not a billing admin" in nobody


def test_home_follows_a_settlement_without_being_opened_again(h: Harness) -> None:
    h.open_home(ADMIN)
    published = len(h.fake.homes[ADMIN])
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")

    eventually(lambda: "Nothing to settle" in text(h.fake.home(ADMIN) or {}), message="the Home never moved on")
    home = text(h.fake.home(ADMIN) or {})
    assert "Settled lately" in home and "€129.00 with Visa ·· 4242 by <@U0ADMIN>" in home
    assert len(h.fake.homes[ADMIN]) > published


def test_home_lists_a_payment_waiting_for_the_bank(h: Harness) -> None:
    h.settle_with(ADMIN, "pm_acme_3", "Verify with your bank")
    home = text(h.open_home(ADMIN))
    assert "Waiting for bank verification" in home and "<@U0ADMIN>'s payment waits for the bank" in home


def test_a_malformed_home_event_publishes_nothing(h: Harness) -> None:
    assert h.event({"type": "app_home_opened", "user": "<!channel>", "tab": "home"}).status == 200
    assert h.event({"type": "app_home_opened", "user": ADMIN, "tab": "messages"}).status == 200
    import time

    time.sleep(0.3)
    assert h.fake.homes == {}
