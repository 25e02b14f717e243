"""A second pair of eyes above SETTLE_APPROVAL_ABOVE: a confirmation, a scheduled retry or a "paid
another way" above it becomes a request in the alert's thread (and on App Home) that another
authorised admin approves or rejects; only an approval charges, once, with the request's keys; the
requester never approves their own, from any session; a request expires; every step is audited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from storage.db import reading, transaction
from storage.models import ApprovalRequest, AuditEvent, ScheduledRetry
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_endings import end
from tests.handlers.test_next_steps import due, next_week, retry_values, schedule
from tests.handlers.test_settle_flow import ADMIN, OTHER_ADMIN, STRANGER, setup
from tests.handlers.test_stripe_flow import declined, pay_requests
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import interactive_body, post, signed_headers

HOSTILE = "<!channel> paid by <@U123> *cash* <script>x</script>"


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("SETTLE_APPROVAL_ABOVE", "EUR 100, USD 100")  # Acme's renewal is €129.00
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def audited(h: Harness, action: str) -> list[AuditEvent]:
    with reading(h.services.sessions) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def request_message(h: Harness, invoice_id: str = "in_acme_1") -> dict[str, Any]:
    """The request's message in the alert's thread."""

    def found() -> dict[str, Any] | None:
        for m in h.replies(invoice_id):
            if "approval_approve" in json.dumps(m.get("blocks") or []) or "Approved by" in m.get("text", ""):
                return {**m, "channel": h.alert(invoice_id)["channel"]}
        for m in h.replies(invoice_id):
            if m.get("text", "").startswith(("❌ Rejected", "⌛ Expired")):
                return {**m, "channel": h.alert(invoice_id)["channel"]}
        return None

    return dict(eventually(found, message=f"no request in the thread: {h.replies(invoice_id)}"))


def decide(h: Harness, user: str, action_id: str = "approval_approve", msg: dict[str, Any] | None = None) -> int:
    msg = msg or request_message(h)
    button = next(
        e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id
    )
    action = {"action_id": action_id, "block_id": "approval", "type": "button", "value": button["value"]}
    return h.message_action(user, action, msg).status


def charges(h: Harness) -> int:
    return len([a for a in h.attempts() + h.attempts(on_session=False) if a.idempotency_key])


def ephemerals(h: Harness, user: str) -> list[str]:
    return [c.params["text"] for c in h.fake.calls_to("chat.postEphemeral") if c.params.get("user") == user]


def requested(h: Harness) -> ApprovalRequest:
    with reading(h.services.sessions) as s:
        found = s.scalar(select(ApprovalRequest).order_by(ApprovalRequest.id.desc()))
        assert found is not None
        return found


def test_a_charge_above_the_threshold_waits_and_an_approval_charges_it_once(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
    assert "€129.00 is above the amount another admin approves" in h.view_text(view_id)
    assert charges(h) == 0  # nothing moves before the approval
    eventually(
        lambda: (
            "Waiting for approval:* <@U0ADMIN> asked to charge €129.00"
            in json.dumps(h.alert()["blocks"], ensure_ascii=False)
        )
    )
    msg = request_message(h)
    shown = json.dumps(msg["blocks"], ensure_ascii=False)
    assert "<@U0ADMIN> asks to charge *€129.00* for *Acme Corp* to Visa ·· 4242" in shown
    assert "<@UGLOBAL>" in shown and "<!subteam^SADMINS>" in shown  # who may decide, named
    assert "one of you approves or rejects it" in shown
    (asked,) = audited(h, "approval_requested")
    assert asked.actor == ADMIN and asked.detail["amounts"] == {"EUR": 12900}

    # the same confirmation submitted again: still one request, nothing charged
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Sent for approval" in h.view_text(view_id))
    assert len(audited(h, "approval_requested")) == 1 and charges(h) == 0

    # a stranger and the requester (from a second session: any device, same person) are refused
    decide(h, STRANGER)
    eventually(lambda: ephemerals(h, STRANGER), message="the stranger was not answered")
    assert ephemerals(h, STRANGER)[0].startswith("You can't approve or reject requests for Acme Corp's balance")
    decide(h, ADMIN)
    eventually(lambda: "You asked for this one: another admin approves or rejects it." in ephemerals(h, ADMIN))
    assert charges(h) == 0 and requested(h).status == "pending"
    assert [e.actor for e in audited(h, "approval_refused")] == [ADMIN]

    # another admin approves; the same click replayed at once carries nothing out twice
    start = threading.Barrier(3)

    def click() -> None:
        start.wait()
        decide(h, OTHER_ADMIN, msg=msg)

    clicks = [threading.Thread(target=click) for _ in range(3)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    eventually(lambda: h.alert()["text"].startswith("Settled by <@U0ADMIN>"), message=h.alert()["text"])
    assert charges(h) == 1
    key = next(a.idempotency_key for a in h.attempts() if a.idempotency_key)
    (carried,) = eventually(lambda: audited(h, "approval_carried_out"))
    assert carried.detail["outcome"] == "succeeded" and requested(h).outcome == "succeeded"
    (approved,) = audited(h, "approval_approved")
    assert approved.actor == OTHER_ADMIN and approved.detail["requested_by"] == ADMIN  # both people
    with reading(h.services.sessions) as s:
        assert (
            s.scalar(select(AuditEvent).where(AuditEvent.action == "charge_confirmed")).detail["idempotency_key"] == key
        )  # the request's own key, given when the card was chosen
    eventually(lambda: request_message(h)["text"].startswith("✅ Approved by <@UGLOBAL>"))
    assert "approval_approve" not in json.dumps(request_message(h)["blocks"])  # no buttons once decided
    eventually(lambda: any(r["text"].startswith("👍 <@U0ADMIN>, <@UGLOBAL> approved") for r in h.replies()))
    assert "Waiting for approval" not in json.dumps(h.alert()["blocks"])
    eventually(lambda: any("approved this already" in t for t in ephemerals(h, OTHER_ADMIN)))


def test_two_replicas_given_the_same_approval_charge_once(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETTLE_APPROVAL_ABOVE", "EUR 100")
    with running_server() as (base, services), running_server() as (base2, replica):
        h, h2 = Harness(base, fake_slack, services), Harness(base2, fake_slack, replica)
        setup(h, tmp_path)
        h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
        msg = request_message(h)
        start = threading.Barrier(2)

        def click(harness: Harness) -> None:
            start.wait()
            decide(harness, OTHER_ADMIN, msg=msg)

        threads = [threading.Thread(target=click, args=(x,)) for x in (h, h2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        eventually(lambda: h.alert_row().state == "paid", message=h.alert_row().state)
        eventually(lambda: audited(h, "approval_carried_out"))
        assert charges(h) == 1 and len(audited(h, "approval_approved")) == 1


def test_a_rejection_charges_nothing_and_tells_the_requester(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
    msg = request_message(h)
    assert decide(h, OTHER_ADMIN, "approval_reject", msg=msg) == 200
    eventually(lambda: request_message(h)["text"].startswith("❌ Rejected by <@UGLOBAL>"))
    eventually(lambda: any(r["text"].startswith("👎 <@U0ADMIN>, <@UGLOBAL> rejected") for r in h.replies()))
    decide(h, OTHER_ADMIN, "approval_approve", msg=msg)  # the old buttons, clicked after the rejection
    eventually(lambda: any("rejected this already" in t for t in ephemerals(h, OTHER_ADMIN)))
    assert charges(h) == 0 and h.alert_row().state == "open"
    assert [e.actor for e in audited(h, "approval_rejected")] == [OTHER_ADMIN]
    assert "Waiting for approval" not in json.dumps(h.alert()["blocks"])


def test_an_expired_request_is_refused_and_charges_nothing(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
    msg = request_message(h)
    with transaction(h.services.sessions) as s:  # a day later, before the poll swept it
        s.execute(update(ApprovalRequest).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    decide(h, OTHER_ADMIN, msg=msg)
    eventually(lambda: any("This request expired" in t for t in ephemerals(h, OTHER_ADMIN)))
    assert charges(h) == 0 and requested(h).status == "expired"
    eventually(lambda: request_message(h)["text"].startswith("⌛ Expired without a decision"))
    eventually(lambda: any(r["text"].startswith("⌛ <@U0ADMIN>, your request expired") for r in h.replies()))
    assert [e.detail["requested_by"] for e in audited(h, "approval_expired")] == [ADMIN]


def test_a_forged_or_unsigned_approval_is_refused_with_401(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
    msg = request_message(h)
    button = next(e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
    payload = {
        "type": "block_actions",
        "user": {"id": OTHER_ADMIN, "team_id": "T1"},
        "team": {"id": "T1"},
        "channel": {"id": msg["channel"]},
        "container": {"type": "message", "message_ts": msg["ts"], "channel_id": msg["channel"]},
        "trigger_id": "1.2.3",
        "actions": [{"action_id": "approval_approve", "value": button["value"], "type": "button"}],
    }
    body = interactive_body(payload)
    assert post(h.base + "/slack/events", body, signed_headers(body, secret="not-the-secret"))[0] == 401
    assert post(h.base + "/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded"})[0] == 401
    # a signed click naming a request that is not one (a made-up id) changes nothing either
    forged = {**button, "value": json.dumps({"k": "approval", "id": 999999})}
    h.message_action(OTHER_ADMIN, {**forged, "action_id": "approval_approve", "block_id": "approval"}, msg)
    eventually(lambda: ephemerals(h, OTHER_ADMIN))
    assert charges(h) == 0 and requested(h).status == "pending"


def test_app_home_lists_what_waits_with_buttons_for_everyone_but_the_requester(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
    other = json.dumps(h.open_home(OTHER_ADMIN)["blocks"], ensure_ascii=False)
    assert "*Waiting for approval: 1*" in other and "approval_approve" in other
    mine = json.dumps(h.open_home(ADMIN)["blocks"], ensure_ascii=False)
    assert "*Waiting for approval: 1*" in mine and "approval_approve" not in mine
    stranger = json.dumps(h.open_home(STRANGER)["blocks"], ensure_ascii=False)
    assert "Waiting for approval" not in stranger


def test_a_retry_above_the_threshold_is_scheduled_only_once_approved(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = schedule(h, ADMIN, next_week())
    eventually(lambda: "Sent for approval" in h.view_text(view_id), message=h.view_text(view_id))
    when = due(h)
    assert h.services.retries.fire_due(now=when) == 0  # waiting: never fired
    assert "asks to retry *€129.00* of *Acme Corp*" in json.dumps(request_message(h)["blocks"], ensure_ascii=False)
    decide(h, OTHER_ADMIN)
    eventually(lambda: "the retry is scheduled" in request_message(h)["text"], message=request_message(h)["text"])
    assert request_message(h)["text"].startswith("✅ Approved by <@UGLOBAL>")
    eventually(lambda: "🔁 *Retry scheduled* by <@U0ADMIN>" in json.dumps(h.alert()["blocks"], ensure_ascii=False))
    assert h.services.retries.fire_due(now=when) == 1 and charges(h) == 1


def test_a_retry_whose_request_expires_never_runs(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    schedule(h, ADMIN, next_week())
    when = due(h)
    assert h.services.approvals.expire_due(now=datetime.now(UTC) + timedelta(hours=25)) == 1
    assert h.services.approvals.expire_due(now=datetime.now(UTC) + timedelta(hours=26)) == 0  # once
    with reading(h.services.sessions) as s:
        assert s.scalar(select(ScheduledRetry.status)) == "cancelled"
    assert h.services.retries.fire_due(now=when) == 0 and charges(h) == 0


def test_paid_another_way_above_the_threshold_waits_and_keeps_the_reason_harmless(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = end(h, ADMIN, "paid", HOSTILE)
    eventually(lambda: "Sent for approval" in h.view_text(view_id), message=h.view_text(view_id))
    assert h.alert_row().state == "open"  # nothing marked paid yet
    shown = json.dumps(request_message(h)["blocks"], ensure_ascii=False)
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown and "<@U123>" not in shown
    decide(h, OTHER_ADMIN)
    eventually(lambda: h.alert_row().state == "paid", message=h.alert_row().state)
    eventually(lambda: "marked as paid another way" in request_message(h)["text"], message=request_message(h)["text"])
    assert request_message(h)["text"].startswith("✅ Approved by <@UGLOBAL>")
    assert charges(h) == 0  # paid another way: no card is charged
    (ended,) = audited(h, "balance_ended")
    assert ended.actor == ADMIN  # carried out as the requester asked it


def test_on_stripe_an_approved_charge_and_an_approved_retry_each_pay_once_with_settles_keys(
    stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETTLE_APPROVAL_ABOVE", "EUR 100")
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        acme = declined(h, fake_stripe)  # €129.00, short of funds on its default card
        inv = acme.invoice

        # a retry on a date, above the threshold: approved, then fired off-session once
        _resp, trigger = h.click(ADMIN, "next_step", invoice_id=inv)
        view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
        eventually(lambda: h.view(view_id).get("callback_id") == "settle_retry")
        h.submit(view_id, ADMIN, retry_values(next_week(), acme.visa))
        eventually(lambda: "Sent for approval" in h.view_text(view_id), message=h.view_text(view_id))
        decide(h, OTHER_ADMIN, msg=request_message(h, inv))
        eventually(lambda: "the retry is scheduled" in request_message(h, inv)["text"])
        assert pay_requests(fake_stripe) == []  # approving schedules it; nothing is charged yet
        assert h.services.retries.fire_due(now=due(h)) == 1
        (pay,) = pay_requests(fake_stripe)
        assert pay.params["payment_method"] == acme.visa and pay.params["off_session"] == "true"
        assert pay.idempotency_key and pay.idempotency_key.startswith("settle-")
        assert fake_stripe.invoices[inv]["status"] == "paid"

        # a new renewal declined: settled from the modal above the threshold, approved, paid once
        later = fake_stripe.add_invoice(acme.customer, 15000)
        fake_stripe.renew(later)
        h.services.poller.run_cycle()
        h.settle_with(ADMIN, acme.mastercard, "Sent for approval", invoice_id=later)
        assert len(pay_requests(fake_stripe)) == 1
        msg = request_message(h, later)
        for _ in range(2):  # a replayed approval
            decide(h, OTHER_ADMIN, msg=msg)
        eventually(lambda: fake_stripe.invoices[later]["status"] == "paid")
        eventually(lambda: request_message(h, later)["text"].startswith("✅ Approved by <@UGLOBAL>"))
        second = pay_requests(fake_stripe)[1:]
        assert len(second) == 1 and second[0].params["payment_method"] == acme.mastercard
        assert second[0].params["off_session"] == "false" and second[0].idempotency_key != pay.idempotency_key


def test_below_the_threshold_nothing_waits(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    with running_server() as (base, services):  # SETTLE_APPROVAL_ABOVE unset: off
        h = Harness(base, fake_slack, services)
        setup(h, tmp_path)
        h.settle_with(ADMIN, "pm_acme_2", "Paid")
        assert charges(h) == 1 and audited(h, "approval_requested") == []


@pytest.fixture
def h200(env: dict[str, str], fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("SETTLE_APPROVAL_ABOVE", "EUR 200")
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def test_charging_the_balance_an_invoice_at_a_time_needs_the_same_approval(h200: Harness, tmp_path: Path) -> None:
    h = h200
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["invoices"].append({"amount": "129.00", "description": "acme subscription, extra 2"})
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()  # €258.00 owed, each invoice €129.00: under EUR 200 on its own
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2", invoices=["in_acme_1"])
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Sent for approval" in h.view_text(view_id), message=h.view_text(view_id))
    assert charges(h) == 0
    assert "asks to charge *€129.00*" in json.dumps(request_message(h)["blocks"], ensure_ascii=False)


def test_a_currency_the_threshold_names_no_amount_for_always_waits(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETTLE_APPROVAL_ABOVE", "USD 1000")  # the balance is in euros
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        setup(h, tmp_path)
        h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
        assert charges(h) == 0


def test_the_approver_is_told_the_card_becomes_the_default(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.confirm(view_id, ADMIN, make_default=True)
    eventually(lambda: "Sent for approval" in h.view_text(view_id))
    blocks = json.dumps(request_message(h)["blocks"], ensure_ascii=False)
    assert "and to make it the default card for renewals" in blocks
    button = next(e for b in request_message(h)["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert "default card for renewals" in button["confirm"]["text"]["text"]  # in the Approve dialog too


def test_a_retry_approved_after_its_day_passed_is_not_charged(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    schedule(h, ADMIN, next_week())
    msg = request_message(h)
    with transaction(h.services.sessions) as s:  # it waited for approval until its morning had come
        s.execute(update(ScheduledRetry).values(due_at=datetime.now(UTC) + timedelta(minutes=1)))
    decide(h, OTHER_ADMIN, msg=msg)
    eventually(lambda: "its day passed while it waited" in request_message(h)["text"])
    with reading(h.services.sessions) as s:
        assert s.scalar(select(ScheduledRetry.status)) == "cancelled"
    assert h.services.retries.fire_due(now=datetime.now(UTC) + timedelta(days=30)) == 0 and charges(h) == 0
    assert [e.detail["outcome"] for e in audited(h, "retry_approved")] == ["too_late"]


def test_an_approval_cut_short_before_it_was_carried_out_is_carried_out_once_by_the_poll(
    h: Harness, tmp_path: Path
) -> None:
    setup(h, tmp_path)
    h.settle_with(ADMIN, "pm_acme_2", "Sent for approval")
    with transaction(h.services.sessions) as s:  # approved, then the process stopped
        s.execute(
            update(ApprovalRequest).values(
                status="approved", decided_by=OTHER_ADMIN, decided_at=datetime.now(UTC) - timedelta(minutes=11)
            )
        )
    h.services.poller.run_cycle()
    eventually(lambda: h.alert_row().state == "paid", message=h.alert_row().state)
    assert charges(h) == 1 and requested(h).outcome == "succeeded"
    h.services.poller.run_cycle()  # again: nothing more
    assert charges(h) == 1 and len(audited(h, "approval_carried_out")) == 1
