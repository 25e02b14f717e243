"""Every way a balance really ends, from Slack: Paid another way, Void and Write off on the alert,
each with a confirmation that asks for a reason, applied at the provider once, audited, shown on the
alert and in its thread, and counted in the monthly report under its own name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.read.report import build_report, report_text
from bot.read.report_chart import chart_png
from storage.db import reading
from storage.models import AuditEvent
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_settle_flow import ADMIN, STRANGER, setup
from tests.handlers.test_stripe_flow import Acme, declined
from tests.harness import Harness, eventually, running_server

HOSTILE = "<!channel> *bold* <script>x</script> & <@U123>"


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        setup(harness, tmp_path)
        yield harness


def choose_ending(h: Harness, user: str, how: str, invoice_id: str = "in_acme_1") -> str:
    """Pick the alert's "Paid another way, void…" option `how`; the trigger id of the click."""
    msg = h.alert(invoice_id)
    menu = next(
        e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "end_balance"
    )
    option = next(o for o in menu["options"] if json.loads(o["value"]).get("do") == how)
    trigger = h.fake.new_trigger()
    action = {
        "action_id": "end_balance",
        "block_id": "alert_actions",
        "type": "static_select",
        "selected_option": option,
    }
    assert h.message_action(user, action, msg, trigger=trigger).status == 200
    return trigger


def reason(text: str) -> dict[str, Any]:
    return {"end_reason": {"end_reason": {"type": "plain_text_input", "value": text}}}


def end(h: Harness, user: str, how: str, why: str, invoice_id: str = "in_acme_1") -> str:
    trigger = choose_ending(h, user, how, invoice_id)
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger), message="the confirmation never opened")
    assert h.view(view_id)["callback_id"] == "settle_end"
    resp = h.submit(view_id, user, reason(why))
    assert resp.status == 200 and resp.json()["response_action"] == "update"
    return view_id


def audited(h: Harness, action: str) -> list[AuditEvent]:
    with reading(h.services.sessions) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_paid_another_way_asks_why_marks_it_paid_once_and_says_so_everywhere(h: Harness) -> None:
    trigger = choose_ending(h, ADMIN, "paid")
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    text = h.view_text(view_id)
    assert "Mark *€129.00* of *Acme Corp* (1 invoice) as paid another way" in text and "No card is charged" in text
    empty = h.submit(view_id, ADMIN, reason("   "))
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"end_reason": "Say why, in a few words: it is kept."},
    }
    assert h.submit(view_id, ADMIN, reason(f"Bank transfer 12 Nov {HOSTILE}")).json()["response_action"] == "update"
    eventually(lambda: "Marked paid another way: €129.00" in h.view_text(view_id), message=h.view_text(view_id))

    assert h.sandbox.get_invoice("in_acme_1").status == "paid"  # type: ignore[union-attr]
    assert h.attempts() == [a for a in h.attempts() if not a.off_session] == []  # no card was charged
    eventually(lambda: h.alert()["text"] == "Settled: Acme Corp paid €129.00 another way (marked by <@U0ADMIN>).")
    blocks = json.dumps(h.alert()["blocks"], ensure_ascii=False)
    assert "paid €129.00 another way, marked by <@U0ADMIN>" in blocks and "end_balance" not in blocks
    assert "✅ paid another way, marked by <@U0ADMIN>" in blocks
    reply = eventually(lambda: next((r["text"] for r in h.replies() if r["text"].startswith("🧾")), None))
    assert reply.startswith("🧾 <@U0ADMIN> marked €129.00 paid another way (`in_acme_1`): “Bank transfer 12 Nov")
    assert "<!channel>" not in reply and "<script>" not in reply and "&lt;!channel&gt;" in reply
    (event,) = audited(h, "balance_ended")
    assert event.actor == ADMIN and event.detail["how"] == "paid_another_way"
    assert event.detail["reason"].startswith("Bank transfer 12 Nov <!channel>")  # kept as typed, shown escaped
    h.services.poller.run_cycle()  # the sandbox's invoice_paid event: nothing more
    (row,) = build_report_now(h).currencies
    assert (row.another_way_count, row.another_way_minor, row.elsewhere_count) == (1, 12900, 0)


def build_report_now(h: Harness) -> Any:
    with reading(h.services.sessions) as s:
        return build_report(s, datetime.now(UTC).strftime("%Y-%m"))


@pytest.mark.parametrize(
    ("how", "closed", "said"), [("voided", "1 voided", "🗑️"), ("uncollectible", "1 written off", "📉")]
)
def test_void_and_write_off_close_the_balance_with_the_reason(h: Harness, how: str, closed: str, said: str) -> None:
    view_id = end(h, ADMIN, how, "Customer left in October")
    eventually(lambda: "The alert is updated." in h.view_text(view_id), message=h.view_text(view_id))
    assert h.sandbox.get_invoice("in_acme_1").status == how  # type: ignore[union-attr]
    eventually(lambda: h.alert()["text"].startswith(f"Closed: nothing is owed by Acme Corp any more ({closed})"))
    reply = eventually(lambda: next((r["text"] for r in h.replies() if r["text"].startswith(said)), None))
    assert "“Customer left in October”" in reply and "<@U0ADMIN>" in reply
    report = build_report_now(h)
    (row,) = report.currencies
    assert (row.voided_count if how == "voided" else row.written_off_count) == 1
    assert ("voided" if how == "voided" else "written off") in report_text(report)
    assert chart_png(report)[:8] == b"\x89PNG\r\n\x1a\n"  # with its "Ended" column


def test_someone_without_rights_gets_no_form_and_a_refusal_naming_the_action(h: Harness) -> None:
    trigger = choose_ending(h, STRANGER, "voided")
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert eph[0].params["text"].startswith("You can't void Acme Corp's balance: only its billing admins can")
    assert trigger not in h.fake.view_by_trigger
    assert h.sandbox.get_invoice("in_acme_1").status == "open"  # type: ignore[union-attr]
    assert audited(h, "balance_ended") == [] and audited(h, "settle_refused")


def test_a_forged_submission_from_a_stranger_changes_nothing(h: Harness) -> None:
    trigger = choose_ending(h, ADMIN, "uncollectible")
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    h.submit(view_id, STRANGER, reason("mine now"))  # the admin's form, submitted as someone else
    eventually(lambda: "You can't write off" in h.view_text(view_id), message=h.view_text(view_id))
    assert h.sandbox.get_invoice("in_acme_1").status == "open"  # type: ignore[union-attr]
    assert audited(h, "balance_ended") == []


def test_ten_submissions_at_once_end_it_once(h: Harness) -> None:
    trigger = choose_ending(h, ADMIN, "voided")
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    form = h.view(view_id)
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda _: h.submit(view_id, ADMIN, reason("duplicate"), view_override=form).status, range(10))
        )
    assert answers == [200] * 10
    eventually(lambda: h.alert()["text"].startswith("Closed:"))
    eventually(lambda: len(audited(h, "balance_ended")) == 1)
    assert len(audited(h, "invoice_voided")) == 1


def test_a_balance_being_charged_is_not_ended_beside_the_charge(h: Harness) -> None:
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")  # ·· 3184: waiting for the bank
    trigger = choose_ending(h, ADMIN, "voided")
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert "already settling this balance" in eph[-1].params["text"], eph[-1].params["text"]
    assert trigger not in h.fake.view_by_trigger and "Verify with your bank" in h.view_text(view_id)
    assert h.sandbox.get_invoice("in_acme_1").status == "open"  # type: ignore[union-attr]


@pytest.fixture
def hs(stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


@pytest.mark.parametrize(
    ("how", "status", "path"),
    [("paid", "paid", "pay"), ("voided", "void", "void"), ("uncollectible", "uncollectible", "mark_uncollectible")],
)
def test_on_stripe_each_ending_is_one_request_with_its_idempotency_key(
    hs: Harness, fake_stripe: FakeStripe, how: str, status: str, path: str
) -> None:
    acme: Acme = declined(hs, fake_stripe)
    before = len(fake_stripe.requests)
    view_id = end(hs, ADMIN, how, "Settled by phone", invoice_id=acme.invoice)
    eventually(lambda: "The alert is updated." in hs.view_text(view_id), message=hs.view_text(view_id))
    assert fake_stripe.invoices[acme.invoice]["status"] == status
    (call,) = [
        r
        for r in fake_stripe.requests[before:]
        if r.method == "POST" and r.path == f"/v1/invoices/{acme.invoice}/{path}"
    ]
    assert call.idempotency_key == f"settle-end-1-{acme.invoice}-{how}"
    if how == "paid":
        assert str(call.params.get("paid_out_of_band")).lower() == "true" and not call.params.get("payment_method")
    hs.services.poller.run_cycle()  # Stripe's own event of it: recorded once
    assert len(audited(hs, "balance_ended")) == 1


@pytest.mark.parametrize("how", ["voided", "uncollectible"])
def test_a_charge_confirmed_after_the_balance_was_ended_charges_nothing(h: Harness, how: str) -> None:
    """Admin A has the Charge confirmation open; admin B voids or writes off the balance; A clicks
    Charge. (Stripe would take payment for a written-off invoice: Settle must not ask it to.)"""
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    end(h, "UGLOBAL", how, "Customer left")  # another admin (in SETTLE_ADMINS)
    eventually(lambda: h.alert()["text"].startswith("Closed:"))
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Nothing is owed any more" in h.view_text(view_id), message=h.view_text(view_id))
    assert h.attempts() == [] and h.sandbox.get_invoice("in_acme_1").status == how  # type: ignore[union-attr]
    assert "charge_attempted" not in h.audit()


def test_a_balance_that_grew_after_the_form_opened_is_confirmed_again(h: Harness, tmp_path: Path) -> None:
    from tests.conftest import account, load_accounts, write_accounts

    trigger = choose_ending(h, ADMIN, "paid")
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    form = h.view(view_id)
    # next month's renewal is declined meanwhile and joins the balance
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], invoices=2)
    load_accounts(h.services, write_accounts(tmp_path / "more.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    h.submit(view_id, ADMIN, reason("Transfer for November"), view_override=form)
    eventually(
        lambda: "The balance changed since you opened this" in h.view_text(view_id), message=h.view_text(view_id)
    )
    assert all(i.status == "open" for i in (h.sandbox.get_invoice("in_acme_1"), h.sandbox.get_invoice("in_acme_2")))  # type: ignore[union-attr]
    assert "(2 invoices)" in h.view_text(view_id) and audited(h, "balance_ended") == []


def test_a_provider_failure_halfway_leaves_the_truth_on_both_sides(hs: Harness, fake_stripe: FakeStripe) -> None:
    acme: Acme = declined(hs, fake_stripe)
    second = fake_stripe.add_invoice(acme.customer, 4900, description="Extra seats")
    fake_stripe.renew(second)
    hs.services.poller.run_cycle()
    fake_stripe.fail(f"/v1/invoices/{second}/void", 500, times=10)  # Stripe down for the second
    view_id = end(hs, ADMIN, "voided", "Cancelled contract", invoice_id=acme.invoice)
    eventually(lambda: "Not ended, still open" in hs.view_text(view_id), message=hs.view_text(view_id))
    text = hs.view_text(view_id)
    assert "✅ Voided: €129.00" in text and f"`{second}`" in text and "not answering" in text
    assert fake_stripe.invoices[acme.invoice]["status"] == "void" and fake_stripe.invoices[second]["status"] == "open"
    (event,) = audited(hs, "balance_ended")
    assert event.detail["invoices"] == [acme.invoice] and event.detail["not_ended"] == [second]
    blocks = json.dumps(hs.alert(acme.invoice)["blocks"], ensure_ascii=False)
    assert "*Owed*\\n€49.00" in blocks  # the second is still owed, and says so


def test_settle_audit_quotes_a_reason_so_it_never_reads_as_another_field(h: Harness, env: dict[str, str]) -> None:
    from tests.conftest import run_cli

    view_id = end(h, ADMIN, "uncollectible", "gone invoices=['in_other'] actor=U0BOSS")
    eventually(lambda: "The alert is updated." in h.view_text(view_id), message=h.view_text(view_id))
    text = run_cli(env, "audit").stdout
    line = next(line for line in text.splitlines() if "balance_ended" in line)
    assert "reason=\"gone invoices=['in_other'] actor=U0BOSS\"" in line
