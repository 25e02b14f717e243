"""A morning list for each admin: a direct message on working days at 09:00 in their own Slack time
zone, with the balances they may settle or are assigned (oldest and largest first, each with its
Settle button); nothing when nothing is open; `/settle digest off|on`; once per person per day across
replicas."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_settle_flow import ADMIN, OTHER_ADMIN, STRANGER
from tests.handlers.test_stripe_flow import declined
from tests.harness import Harness, eventually, running_server

MONDAY_0805_UTC = datetime(2026, 12, 7, 8, 5, tzinfo=UTC)  # 09:05 in Amsterdam (UTC+1)
MONDAY_0905_UTC = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)  # 09:05 in London and for everyone on UTC
SATURDAY = datetime(2026, 12, 5, 9, 5, tzinfo=UTC)


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    fake_slack.tz_offsets[ADMIN] = 3600  # Amsterdam in winter
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def declined_accounts(h: Harness, tmp_path: Path) -> None:
    accounts = [
        account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], amount="129.00"),
        account("bolt", "4000000000009995", channel="C0BOLT", admins=[ADMIN], amount="990.00"),
        account("corp", "4000000000009995", channel="C0CORP", admins=["U0ELSE"]),  # not ADMIN's
    ]
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", accounts))
    h.sandbox.bill()
    h.services.poller.run_cycle()


def dms(h: Harness, user: str) -> list[dict[str, Any]]:
    return h.fake.messages(user)


def test_each_admin_gets_their_list_at_nine_their_time_once(h: Harness, tmp_path: Path) -> None:
    declined_accounts(h, tmp_path)
    morning = h.services.morning
    assert morning.run(now=MONDAY_0805_UTC.replace(hour=7, minute=50)) == 0  # 08:50 in Amsterdam: not yet
    assert dms(h, ADMIN) == []
    morning.run(now=MONDAY_0805_UTC)
    (msg,) = dms(h, ADMIN)
    assert msg["text"] == "☀️ Good morning: 2 open balances to settle (€1,119.00)."
    shown = json.dumps(msg["blocks"], ensure_ascii=False)
    assert "Acme Corp" in shown and "Bolt Corp" in shown
    assert "Corp Corp" not in shown  # not theirs to settle
    buttons = [b["accessory"] for b in msg["blocks"] if b.get("accessory")]
    assert [b["action_id"] for b in buttons] == ["settle_open", "settle_open"]
    assert morning.run(now=MONDAY_0805_UTC.replace(minute=35)) == 0  # later that morning: not again
    assert len(dms(h, ADMIN)) == 1
    assert dms(h, OTHER_ADMIN) == []  # on UTC: 08:05 for them
    morning.run(now=MONDAY_0905_UTC)
    assert len(dms(h, ADMIN)) == 1  # 10:05 for ADMIN: sent already today
    # SETTLE_ADMINS (UGLOBAL, and the SADMINS group) may settle every account: their list has all three
    (other,) = dms(h, OTHER_ADMIN)
    assert other["text"].startswith("☀️ Good morning: 3 open balances")
    assert dms(h, STRANGER) == []


def test_oldest_and_largest_first(h: Harness, tmp_path: Path) -> None:
    declined_accounts(h, tmp_path)
    h.services.morning.run(now=MONDAY_0805_UTC)
    (msg,) = dms(h, ADMIN)
    lines = [b["text"]["text"] for b in msg["blocks"] if b.get("accessory")]
    assert lines[0].startswith("*Bolt Corp* — €990.00") and lines[1].startswith("*Acme Corp* — €129.00")


def test_no_list_at_the_weekend_or_with_nothing_open(h: Harness, tmp_path: Path) -> None:
    assert h.services.morning.run(now=MONDAY_0805_UTC) == 0  # nothing open anywhere
    declined_accounts(h, tmp_path)
    assert h.services.morning.run(now=SATURDAY) == 0
    assert dms(h, ADMIN) == []


def test_digest_off_and_on(h: Harness, tmp_path: Path) -> None:
    declined_accounts(h, tmp_path)
    resp, _ = h.command(ADMIN, "digest off")
    assert resp.status == 200
    said = eventually(lambda: h.fake.responses)
    assert "Your morning list is off" in json.dumps(said)
    h.services.morning.run(now=MONDAY_0905_UTC)
    assert dms(h, ADMIN) == [] and len(dms(h, OTHER_ADMIN)) == 1  # only theirs stops
    h.command(ADMIN, "digest on")
    h.services.morning.run(now=MONDAY_0805_UTC.replace(day=8))  # Tuesday
    assert len(dms(h, ADMIN)) == 1


def test_an_assigned_balance_is_on_the_assignees_list(h: Harness, tmp_path: Path) -> None:
    declined_accounts(h, tmp_path)
    h.assign("U0ELSE", "U0HELPER", invoice_id="in_corp_1")
    eventually(lambda: "U0HELPER" in json.dumps(h.alert("in_corp_1")["blocks"]))
    h.services.morning.run(now=MONDAY_0905_UTC)
    (msg,) = dms(h, "U0HELPER")
    assert msg["text"].startswith("☀️ Good morning: 1 open balance to settle") and "Corp Corp" in json.dumps(
        msg["blocks"]
    )


def test_two_replicas_send_each_list_once(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    with running_server() as (base, services), running_server() as (_b, replica):
        h = Harness(base, fake_slack, services)
        declined_accounts(h, tmp_path)
        start = threading.Barrier(2)

        def run(svc: Any) -> None:
            start.wait()
            svc.morning.run(now=MONDAY_0905_UTC)

        threads = [threading.Thread(target=run, args=(x,)) for x in (services, replica)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(dms(h, ADMIN)) == 1 and len(dms(h, OTHER_ADMIN)) == 1


def test_a_dutch_admin_reads_it_in_dutch(h: Harness, tmp_path: Path) -> None:
    h.fake.locales[ADMIN] = "nl-NL"
    declined_accounts(h, tmp_path)
    h.services.morning.run(now=MONDAY_0805_UTC)
    (msg,) = dms(h, ADMIN)
    assert msg["text"].startswith("☀️ Goedemorgen: 2 open saldi om te voldoen")
    assert "Saldo voldoen" in json.dumps(msg["blocks"], ensure_ascii=False)


def test_on_stripe_too(stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        declined(h, fake_stripe)
        assert h.services.morning.run(now=MONDAY_0905_UTC) >= 1
        (msg,) = dms(h, ADMIN)
        assert msg["text"] == "☀️ Good morning: 1 open balance to settle (€129.00)."


def test_one_list_per_person_whatever_workspace_the_rows_name(h: Harness, tmp_path: Path) -> None:
    declined_accounts(h, tmp_path)
    from sqlalchemy import update

    from storage.db import transaction
    from storage.models import Alert

    with transaction(h.services.sessions) as s:  # one workspace: one account routed with a team id, the others not
        s.execute(update(Alert).where(Alert.account_id == "acme").values(team_id="T1"))
    h.command(ADMIN, "digest off")
    h.services.morning.run(now=MONDAY_0905_UTC)
    assert dms(h, ADMIN) == []  # off means off, however its balances' rows were routed
    h.command(ADMIN, "digest on")
    h.services.morning.run(now=MONDAY_0905_UTC)
    assert len(dms(h, ADMIN)) == 1
    h.command(ADMIN, "digest")
    eventually(lambda: "Your morning list is on" in json.dumps(h.fake.responses))


def test_an_unknown_time_zone_sends_nothing_yet(h: Harness, tmp_path: Path) -> None:
    declined_accounts(h, tmp_path)
    h.fake.failing["users.info"] = "ratelimited"
    assert h.services.morning.run(now=MONDAY_0905_UTC) == 0  # not a guess
    del h.fake.failing["users.info"]
