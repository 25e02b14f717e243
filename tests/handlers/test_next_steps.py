"""The next step each kind of decline offers beside settling, from the alert: Send payment page…
(the bank wants the cardholder), Ask for a new card… (the card is done for), Retry on… (funds or
limits) — each authorised, audited and shown on the alert and in its thread; a scheduled retry fires
once across replicas, off-session, and never after the balance is over."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from bot.read.report import build_report, report_text
from bot.settlement.retries import suggested_days
from storage.db import reading
from storage.models import AuditEvent, ScheduledRetry
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, STRANGER, local, setup
from tests.harness import Harness, eventually, running_server

HOSTILE = "<!channel> *bold* <script>x</script>"
AUTH_CARD = "4000002500003155"  # needs the cardholder's verification; off-session, declined for it
FUNDS_CARD = "4000000000009995"
LOST_CARD = "4000000000009987"
EXPIRED_CARD = "4000000000000069"
GENERIC_CARD = "4000000000000002"


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def buttons(h: Harness) -> dict[str, dict[str, Any]]:
    return {
        e["action_id"]: e
        for b in h.alert()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    }


def take_step(h: Harness, user: str) -> str:
    """Click the alert's next-step button; the trigger id of the click."""
    resp, trigger = h.click(user, "next_step")
    assert resp.status == 200
    return trigger


def opened(h: Harness, trigger: str) -> str:
    return str(eventually(lambda: h.fake.view_by_trigger.get(trigger), message="the form never opened"))


def audited(h: Harness, action: str) -> list[AuditEvent]:
    with reading(h.services.sessions) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def report_now(h: Harness) -> Any:
    with reading(h.services.sessions) as s:
        return build_report(s, datetime.now(UTC).strftime("%Y-%m"))


@pytest.mark.parametrize(
    ("card", "label", "hint"),
    [
        (AUTH_CARD, "Send payment page", "next: send the customer the payment page"),
        (FUNDS_CARD, "Retry on a date", "next: retry on a date"),
        (LOST_CARD, "Ask for a new card", "next: ask the customer for a new card"),
        (EXPIRED_CARD, "Ask for a new card", "next: ask the customer for a new card"),
        (GENERIC_CARD, None, None),
    ],
)
def test_the_alert_the_list_and_the_form_offer_the_reasons_step(
    h: Harness, tmp_path: Path, card: str, label: str | None, hint: str | None
) -> None:
    setup(h, tmp_path, default=card)
    shown = buttons(h)
    assert "settle_open" in shown  # settling is always there
    if label is None:
        assert "next_step" not in shown
    else:
        assert shown["next_step"]["text"]["text"] == label
    resp, _trigger = h.command(ADMIN)  # /settle's list reads the same table
    answer = json.dumps(resp.json(), ensure_ascii=False)
    assert (hint in answer) if hint else ("next:" not in answer)
    view_id = h.open_modal(ADMIN)
    note = {"Send payment page": "Send payment page", "Retry on a date": "Retry on a date"}.get(label or "", label)
    assert (note in h.view_text(view_id)) if note else ("on the alert" not in h.view_text(view_id))


def test_send_payment_page_copies_the_link_records_who_sent_it_and_the_customers_payment(
    h: Harness, tmp_path: Path
) -> None:
    setup(h, tmp_path, default=AUTH_CARD)
    view_id = opened(h, take_step(h, ADMIN))
    view = h.view(view_id)
    assert view["callback_id"] == "settle_ask" and view["submit"]["text"] == "Mark as sent"
    text = h.view_text(view_id)
    assert "/sandbox/invoices/in_acme_1?token=" in text and "does not email this page" in text
    assert h.submit(view_id, ADMIN).json()["response_action"] == "update"
    eventually(lambda: "Noted" in h.view_text(view_id), message=h.view_text(view_id))
    blocks = json.dumps(h.alert()["blocks"], ensure_ascii=False)
    assert "📨 *Payment page sent* to the customer by <@U0ADMIN>" in blocks
    eventually(lambda: any(r["text"] == "📨 <@U0ADMIN> sent the customer the payment page." for r in h.replies()))
    (event,) = audited(h, "customer_asked")
    assert event.actor == ADMIN and event.detail["ask"] == "pay"

    # the customer opens the page, pays with the card on file, and approves it at the bank
    url = local(h, h.alert_row().invoices[0].url or "")
    paid = requests.post(url, allow_redirects=False, timeout=5)
    assert paid.status_code == 303 and "/sandbox/verify/" in paid.headers["Location"]
    bank = local(h, paid.headers["Location"])
    assert requests.post(bank, data={"decision": "approve"}, timeout=5).status_code == 200
    h.services.poller.run_cycle()
    eventually(lambda: h.alert()["text"].startswith("Settled: Acme Corp paid €129.00"), message=h.alert()["text"])
    (row,) = report_now(h).currencies
    assert row.paths["customer page"].count == 1 and row.paths["customer page"].minor == 12900
    assert row.paths["provider retry"].count == 0
    assert "customer page" in report_text(report_now(h))


def test_ask_for_a_new_card_gives_the_customers_own_link(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path, default=LOST_CARD)
    view_id = opened(h, take_step(h, ADMIN))
    text = h.view_text(view_id)
    assert "cannot be charged again" in text and "for=customer" in text
    link = next(b["accessory"]["url"] for b in h.view(view_id)["blocks"] if b.get("accessory"))
    page = requests.get(local(h, link), timeout=5)
    assert page.status_code == 200 and "checked" in page.text  # the customer's card becomes the default
    card = {"number": "4242424242424242", "exp": "12/34", "default": "on"}
    saved = requests.post(local(h, link), data=card, timeout=5)
    assert saved.status_code == 200 and "nothing else is needed" in saved.text
    h.submit(view_id, ADMIN)
    eventually(lambda: "Asked the customer for a new card:* <@U0ADMIN>" in json.dumps(h.alert()["blocks"]))


def test_someone_without_rights_gets_no_form_and_cannot_mark_it_sent(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path, default=AUTH_CARD)
    trigger = take_step(h, STRANGER)
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert eph[0].params["text"].startswith("You can't ask Acme Corp to pay or add a card")
    assert trigger not in h.fake.view_by_trigger
    view_id = opened(h, take_step(h, ADMIN))
    h.submit(view_id, STRANGER)  # the admin's form, submitted as someone else
    eventually(lambda: "You can't ask" in h.view_text(view_id), message=h.view_text(view_id))
    assert h.alert_row().asked_customer is None and audited(h, "customer_asked") == []


# --- Retry on… ---------------------------------------------------------------------------------


def retry_values(day: str, method: str) -> dict[str, Any]:
    return {
        "retry_date": {"retry_date": {"type": "datepicker", "selected_date": day}},
        "retry_method": {"retry_method": {"type": "static_select", "selected_option": {"value": method}}},
    }


def schedule(h: Harness, user: str, day: str, method: str = "pm_acme_2") -> str:
    view_id = opened(h, take_step(h, ADMIN))
    assert h.view(view_id)["callback_id"] == "settle_retry"
    resp = h.submit(view_id, user, retry_values(day, method))
    assert resp.status == 200
    return view_id


def next_week() -> str:
    return (datetime.now(UTC) + timedelta(days=7)).date().isoformat()


def due(h: Harness) -> datetime:
    def scheduled() -> datetime | None:
        with reading(h.services.sessions) as s:
            return s.scalar(select(ScheduledRetry.due_at).order_by(ScheduledRetry.id.desc()))

    when: datetime = eventually(scheduled, message="no retry was scheduled")
    return when + timedelta(minutes=1)


def test_retry_on_suggests_payday_and_refuses_a_day_in_the_past(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = opened(h, take_step(h, ADMIN))
    date_block = next(b for b in h.view(view_id)["blocks"] if b.get("block_id") == "retry_date")
    first = suggested_days(datetime.now(UTC))[0].date()
    assert date_block["element"]["initial_date"] == first.isoformat() and first.day in (1, 15)
    card_block = next(b for b in h.view(view_id)["blocks"] if b.get("block_id") == "retry_method")
    assert card_block["element"]["initial_option"]["value"] == "pm_acme_1"  # the declined card, for funds
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert h.submit(view_id, ADMIN, retry_values(yesterday, "pm_acme_1")).json() == {
        "response_action": "errors",
        "errors": {"retry_date": "Pick a day after today, within 60 days."},
    }
    assert audited(h, "retry_scheduled") == []


def test_a_scheduled_retry_is_shown_fires_once_off_session_and_updates_the_alert(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = schedule(h, ADMIN, next_week())
    eventually(lambda: "Scheduled" in h.view_text(view_id), message=h.view_text(view_id))
    blocks = json.dumps(h.alert()["blocks"], ensure_ascii=False)
    assert "🔁 *Retry scheduled* by <@U0ADMIN>" in blocks and "Visa ·· 4242" in blocks
    assert buttons(h)["next_step"]["text"]["text"] == "Cancel retry"  # one at a time
    (event,) = audited(h, "retry_scheduled")
    assert event.actor == ADMIN and event.detail["reason"] == "funds"

    retries = h.services.retries
    assert retries.fire_due() == 0  # not due yet: nothing charged
    assert h.attempts(on_session=False) == [] or all(a.idempotency_key is None for a in h.attempts(on_session=False))
    when = due(h)
    assert retries.fire_due(now=when) == 1
    assert retries.fire_due(now=when + timedelta(days=1)) == 0  # fired once
    charged = [a for a in h.attempts(on_session=False) if a.idempotency_key]
    assert len(charged) == 1 and charged[0].outcome == "succeeded"  # off-session, with Settle's key
    eventually(lambda: h.alert()["text"].startswith("Settled by <@U0ADMIN>"), message=h.alert()["text"])
    assert [e.detail["outcome"] for e in audited(h, "retry_fired")] == ["paid"]
    (row,) = report_now(h).currencies
    assert row.paths["scheduled retry"].count == 1 and row.paths["saved card"].count == 0
    assert row.recovered_all_minor == sum(p.minor for p in row.paths.values()) == 12900


def test_a_declined_retry_says_why_in_the_thread(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    schedule(h, ADMIN, next_week(), method="pm_acme_1")  # the card short of funds, again
    h.services.retries.fire_due(now=due(h))
    reply = eventually(lambda: next((r["text"] for r in h.replies() if "scheduled retry with" in r["text"]), None))
    assert reply == "🔁 The scheduled retry with Visa ·· 9995 was declined: insufficient funds."
    assert h.alert_row().state == "open"


def test_a_retry_that_comes_due_after_the_balance_was_paid_charges_nothing(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    schedule(h, ADMIN, next_week())
    eventually(lambda: audited(h, "retry_scheduled"))
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    before = len(h.attempts()) + len(h.attempts(on_session=False))
    assert h.services.retries.fire_due(now=due(h)) == 1
    assert len(h.attempts()) + len(h.attempts(on_session=False)) == before  # nothing charged
    (event,) = audited(h, "retry_skipped")
    assert event.detail["outcome"] == "balance_over"


def test_a_retry_can_be_cancelled_and_then_never_fires(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    schedule(h, ADMIN, next_week())
    eventually(lambda: "cancel_retry" in json.dumps(h.alert()["blocks"]))
    h.click(STRANGER, "next_step")
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert eph[0].params["text"].startswith("You can't schedule or cancel a retry of Acme Corp's balance")
    h.click(ADMIN, "next_step")
    eventually(lambda: "Retry scheduled" not in json.dumps(h.alert()["blocks"]))
    assert h.services.retries.fire_due(now=datetime.now(UTC) + timedelta(days=61)) == 0
    assert [e.actor for e in audited(h, "retry_cancelled")] == [ADMIN]


def test_a_stranger_cannot_schedule_a_retry_with_a_forged_submission(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = schedule(h, STRANGER, next_week())
    eventually(lambda: "You can't schedule" in h.view_text(view_id), message=h.view_text(view_id))
    assert audited(h, "retry_scheduled") == []


def test_a_forged_card_is_refused_and_nothing_is_scheduled(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = opened(h, take_step(h, ADMIN))
    h.submit(view_id, ADMIN, retry_values(next_week(), "pm_somebody_else"))
    eventually(lambda: "Saving" not in h.view_text(view_id), message=h.view_text(view_id))
    assert audited(h, "retry_scheduled") == []


def test_two_replicas_fire_a_due_retry_once(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    with running_server() as (base, services), running_server() as (_base2, replica):
        h = Harness(base, fake_slack, services)
        setup(h, tmp_path)
        schedule(h, ADMIN, next_week())
        eventually(lambda: audited(h, "retry_scheduled"))
        when = due(h)
        fired: list[int] = []
        start = threading.Barrier(2)

        def fire(retries: Any) -> None:
            start.wait()
            fired.append(retries.fire_due(now=when))

        threads = [threading.Thread(target=fire, args=(s.retries,)) for s in (services, replica)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(fired) == [0, 1]
        assert len([a for a in h.attempts(on_session=False) if a.idempotency_key]) == 1


@pytest.mark.parametrize("card", [FUNDS_CARD, AUTH_CARD])
def test_markup_in_the_account_name_never_pings_from_the_forms(h: Harness, tmp_path: Path, card: str) -> None:
    acc = account("acme", card, channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["name"] = HOSTILE
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    view_id = opened(h, take_step(h, ADMIN))
    text = h.view_text(view_id)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "<script>" not in text
