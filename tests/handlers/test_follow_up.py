"""Reminders, escalation, snooze and assign, with a clock the tests move (time-machine): signed
requests for the alert's controls, the poller for what comes due, the fake Slack for what is seen."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from bot.app import build
from bot.settings import Settings
from storage.db import transaction
from storage.models import Alert, Message
from tests.handlers.test_settle_flow import ADMIN, OTHER_ADMIN, STRANGER
from tests.harness import Harness, eventually


@pytest.fixture
def h(acme_any_db: Harness) -> Harness:
    return acme_any_db


def later(hours: float) -> Any:
    """Move the clock (every thread's) this far ahead of now, and let it run on from there."""
    return time_machine.travel(datetime.now(UTC) + timedelta(hours=hours), tick=True)


def thread(h: Harness) -> list[str]:
    return [m["text"] for m in h.replies()]


def reminders(h: Harness) -> list[str]:
    return [t for t in thread(h) if t.startswith("⏰ Reminder")]


def test_a_balance_still_open_after_a_day_is_reminded_once_per_due_time(h: Harness) -> None:
    with later(23):
        h.services.poller.run_cycle()
    assert reminders(h) == []
    with later(25):
        report = h.services.poller.run_cycle()
        h.services.poller.run_cycle()  # and again: nothing more is due
    assert report.reminders == 1
    (reminder,) = reminders(h)
    assert "*€129.00* has been open for 1 day" in reminder and "<@U0ADMIN>, can you settle it?" in reminder
    with later(49):
        h.services.poller.run_cycle()
    assert len(reminders(h)) == 2  # the next day's


def test_after_three_days_it_is_escalated_to_the_alert_channel(h: Harness) -> None:
    with later(73):
        report = h.services.poller.run_cycle()
        h.services.poller.run_cycle()
    assert report.escalations == 1
    escalated = [m for m in h.replies() if m["text"].startswith("🚨 Escalated")]
    assert len(escalated) == 1
    (posted,) = [c for c in h.fake.calls_to("chat.postMessage") if c.params["text"].startswith("🚨 Escalated")]
    assert str(posted.params.get("reply_broadcast")).lower() == "true"  # seen in the channel too
    (elsewhere,) = [m for m in h.fake.messages("CALERTS") if m["text"].startswith("🚨")]
    assert "*Acme Corp* still owes *€129.00*, open for 3 days" in elsewhere["text"] and "<#C0ACME>" in elsewhere["text"]
    assert "alert_escalated" in h.audit()


def test_the_escalation_elsewhere_says_so_once_the_balance_is_settled(h: Harness) -> None:
    with later(73):
        h.services.poller.run_cycle()
    (elsewhere,) = [m for m in h.fake.messages("CALERTS") if m["text"].startswith("🚨")]
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    eventually(
        lambda: next(m for m in h.fake.messages("CALERTS") if m["ts"] == elsewhere["ts"])["text"].startswith("✅")
    )
    (edited,) = [m for m in h.fake.messages("CALERTS") if m["ts"] == elsewhere["ts"]]
    assert "*Acme Corp* has paid *€129.00*: the escalated balance is settled (see <#C0ACME>)." in edited["text"]
    assert "<@" not in edited["text"]  # no one is pinged by the edit


def test_the_escalation_elsewhere_is_in_the_central_channels_language(
    h: Harness, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Dutch account's alert and thread are in Dutch; its escalation in the shared channel is in
    SETTLE_LANGUAGE (English by default), as every other account's escalation there."""
    from tests.conftest import account, load_accounts, write_accounts

    acc = account("bakkerij", "4000000000009995", channel="C0NL", admins=[ADMIN])
    acc["name"], acc["language"] = "Bakkerij de Vries", "nl"
    load_accounts(h.services, write_accounts(tmp_path / "nl.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    with later(73):
        h.services.poller.run_cycle()
    shared = [m["text"] for m in h.fake.messages("CALERTS") if m["text"].startswith("🚨")]
    assert any("*Bakkerij de Vries* still owes" in t for t in shared), shared
    thread = [m["text"] for m in h.fake.messages("C0NL") if m.get("thread_ts")]
    assert any(t.startswith("🚨 Geëscaleerd") for t in thread), thread


def test_the_escalation_comes_alone_not_beside_a_reminder(h: Harness) -> None:
    """72 h is a multiple of 24 h: at the escalation time a reminder is due too, and only the
    escalation is said; the next day's reminder still comes."""
    with later(73):
        report = h.services.poller.run_cycle()
    assert (report.reminders, report.escalations) == (0, 1)
    assert [t.split(":")[0] for t in thread(h) if t.startswith(("⏰", "🚨"))] == ["🚨 Escalated"]
    with later(98):
        h.services.poller.run_cycle()
    assert len(reminders(h)) == 1


def test_no_reminder_pings_an_admin_in_the_middle_of_a_bank_verification(h: Harness) -> None:
    """The reminder falls due ten minutes into the admin's verification (which the bank gives half an
    hour): it is moved on a period, not sent; abandoned verifications are reminded as before."""
    with later(23.8):
        view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")  # ·· 3184 always asks the bank
    assert h.alert_row().state == "verification_pending"
    with later(24.1):
        report = h.services.poller.run_cycle()
    assert report.reminders == 0 and reminders(h) == []
    assert "Verify with your bank" in h.view_text(view_id)
    with transaction(h.services.sessions) as s:  # moved on a period, not dropped
        alert = s.scalars(select(Alert)).one()
        assert alert.remind_at is not None and alert.remind_at > datetime.now(UTC) + timedelta(hours=47)
    with later(49):  # the verification was never finished: the next day's reminder comes
        h.services.poller.run_cycle()
    assert len(reminders(h)) == 1


def test_a_paid_balance_is_never_reminded(h: Harness) -> None:
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    with later(80):
        report = h.services.poller.run_cycle()
    assert (report.reminders, report.escalations) == (0, 0) and reminders(h) == []
    with transaction(h.services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.remind_at is None and alert.escalate_at is None


def test_snoozing_postpones_reminders_and_escalation_and_shows_on_the_alert(h: Harness) -> None:
    assert h.menu(ADMIN, "snooze_3d").status == 200
    eventually(lambda: "Snoozed" in json.dumps(h.alert()["blocks"]), message="the alert never said snoozed")
    assert "Snoozed* by <@U0ADMIN> until" in json.dumps(h.alert()["blocks"])
    eventually(lambda: any("Snoozed until" in c.params["text"] for c in h.fake.calls_to("chat.postEphemeral")))
    with later(25):
        h.services.poller.run_cycle()
    assert reminders(h) == []
    with later(73):
        report = h.services.poller.run_cycle()
    # the snooze is over: both were due again, and the escalation comes alone
    assert (report.reminders, report.escalations) == (0, 1)
    assert "alert_snoozed" in h.audit()

    h.menu(ADMIN, "wake")
    eventually(lambda: "Snoozed" not in json.dumps(h.alert()["blocks"]))


def test_snooze_until_a_date_from_a_form(h: Harness) -> None:
    h.menu(ADMIN, "snooze_date")
    view_id = eventually(
        lambda: next(iter(v for v in h.fake.views.values() if v.get("callback_id") == "settle_snooze"), None)
    )["id"]

    def submit(day: str) -> Any:
        return h.submit(view_id, ADMIN, {"snooze_date": {"snooze_date": {"type": "datepicker", "selected_date": day}}})

    too_late = submit((datetime.now(UTC) + timedelta(days=200)).date().isoformat())
    assert too_late.json()["errors"]["snooze_date"].startswith("Pick a day after today")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert submit(yesterday).json()["response_action"] == "errors"  # (today's 09:00 is refused once past)
    in_five = (datetime.now(UTC) + timedelta(days=5)).date()
    assert submit(in_five.isoformat()).status == 200
    with transaction(h.services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.snoozed_until == datetime(in_five.year, in_five.month, in_five.day, 9, tzinfo=UTC)
        assert alert.remind_at is not None and alert.remind_at >= alert.snoozed_until


def test_assign_shows_on_the_alert_and_reminders_mention_the_assignee(h: Harness) -> None:
    h.assign(ADMIN, "U0CAROL")
    eventually(lambda: "Assigned to* <@U0CAROL> by <@U0ADMIN>" in json.dumps(h.alert()["blocks"]))
    with later(25):
        h.services.poller.run_cycle()
    (reminder,) = reminders(h)
    assert "<@U0CAROL>, can you settle it?" in reminder and "U0ADMIN" not in reminder
    assert "alert_assigned" in h.audit()
    h.menu(ADMIN, "unassign")
    eventually(lambda: "Assigned to" not in json.dumps(h.alert()["blocks"]))


def test_the_assignee_is_told_in_the_thread(h: Harness) -> None:
    """A mention in an edited message notifies nobody: assigning posts a reply that mentions them."""
    h.assign(ADMIN, "U0CAROL")
    told = eventually(lambda: [t for t in thread(h) if t.startswith("👤")], message="nobody was told")
    assert told == [
        "👤 <@U0CAROL>, <@U0ADMIN> assigned this balance of *€129.00* to you: settle, snooze or reassign it here."
    ]
    h.assign(ADMIN, ADMIN)  # taking it oneself tells nobody
    eventually(lambda: "Assigned to* <@U0ADMIN>" in json.dumps(h.alert()["blocks"]))
    assert len([t for t in thread(h) if t.startswith("👤")]) == 1


def test_strangers_can_neither_snooze_nor_assign(h: Harness) -> None:
    h.menu(STRANGER, "snooze_1d")
    h.assign(STRANGER, STRANGER)
    eventually(lambda: len(h.fake.calls_to("chat.postEphemeral")) >= 2)
    texts = [c.params["text"] for c in h.fake.calls_to("chat.postEphemeral")]
    # each refusal names what was tried, not "settle"
    assert sorted(t.split(" Acme")[0] for t in texts) == ["You can't assign", "You can't snooze"]
    assert all("only its billing admins can" in t for t in texts)
    with transaction(h.services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.snoozed_until is None and alert.assignee is None
    assert h.assign(OTHER_ADMIN, "B0NOTAPERSON").status == 200  # a bot id is refused, politely
    eventually(lambda: any("not a person" in c.params["text"] for c in h.fake.calls_to("chat.postEphemeral")))


def test_two_processes_at_the_same_due_time_write_one_reminder(h: Harness, env: dict[str, str]) -> None:
    other = build(Settings())  # a second replica on the same database
    try:
        with later(25):
            barrier = threading.Barrier(2)

            def run(follow_ups: Any) -> tuple[int, int]:
                barrier.wait()
                return follow_ups.run()

            results: list[tuple[int, int]] = []
            threads = [
                threading.Thread(target=lambda f=f: results.append(run(f)))
                for f in (h.services.follow_ups, other.follow_ups)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert sorted(r[0] for r in results) == [0, 1]
        with transaction(h.services.sessions) as s:
            replies = s.scalars(select(Message).where(Message.kind == "reply")).all()
            assert [m.detail["kind"] for m in replies].count("reminder") == 1
    finally:
        other.close()
