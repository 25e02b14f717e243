"""The unit is the account's open balance: one alert while it has declined, unpaid invoices, one
confirmation that charges each ticked invoice exactly once, and partial outcomes shown plainly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.records import PaymentResult
from storage.db import transaction
from storage.models import Alert, Settlement
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, local
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import get, post


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def multi(*amounts: str, card: str = "4000000000009995") -> dict[str, Any]:
    acc = account("multi", card, channel="C0MULTI", admins=[ADMIN], currency="CHF", extra_cards=["4242424242424242"])
    acc["name"] = "Multi AG"
    acc["invoices"] = [{"amount": a, "description": f"Renewal {i}"} for i, a in enumerate(amounts, start=1)]
    return acc


def load(h: Harness, tmp_path: Path, acc: dict[str, Any]) -> None:
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()


def alerts(h: Harness) -> list[dict[str, Any]]:
    return [m for m in h.fake.messages("C0MULTI") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]


def test_two_declined_invoices_are_one_alert_for_the_whole_balance(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, multi("100.00", "250.00"))

    (alert,) = alerts(h)
    blocks = json.dumps(alert["blocks"], ensure_ascii=False)
    assert "*Owed*\\nCHF 350.00" in blocks and "`in_multi_1`" in blocks and "`in_multi_2`" in blocks
    assert "CHF 100.00" in blocks and "CHF 250.00" in blocks
    assert alert["text"].startswith("Payment declined: Multi AG owes CHF 350.00")
    with transaction(h.services.sessions) as s:
        assert len(s.scalars(select(Alert)).all()) == 1

    view_id = h.open_modal(ADMIN, "in_multi_1")
    text = h.view_text(view_id)
    assert "owes *CHF 350.00* on 2 invoices" in text
    chooser = next(b for b in h.view(view_id)["blocks"] if b.get("block_id") == "invoices")["element"]
    assert [o["value"] for o in chooser["initial_options"]] == ["in_multi_1", "in_multi_2"]  # all ticked


def test_a_later_decline_updates_the_alert_and_says_so_in_its_thread(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, multi("100.00"))
    load(h, tmp_path, multi("100.00", "250.00"))  # the next renewal run: in_1 declined again, in_2 is new

    (alert,) = alerts(h)
    assert alert.get("edits", 0) >= 1 and "CHF 350.00" in json.dumps(alert["blocks"])
    replies = h.replies("in_multi_1")
    texts = [r["text"] for r in replies]
    assert any("`in_multi_1` (CHF 100.00) was declined again" in t for t in texts)
    grew = next(c for c in h.fake.calls_to("chat.postMessage") if "Another renewal was declined" in c.params["text"])
    assert "The balance is now *CHF 350.00*" in grew.params["text"]
    assert str(grew.params.get("reply_broadcast")).lower() == "true"  # the channel notices a bigger balance
    assert len(replies) == 2


def test_one_confirmation_charges_each_ticked_invoice_once(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, multi("100.00", "250.00"))
    view_id = h.open_modal(ADMIN, "in_multi_1")
    h.choose(view_id, ADMIN, "pm_multi_2")
    assert "Charge *CHF 350.00* to *Visa ·· 4242*" in h.view_text(view_id)
    confirm = h.view(view_id)

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: h.submit(view_id, ADMIN, {}, view_override=confirm).status, range(10)))

    assert statuses == [200] * 10
    eventually(lambda: "Paid." in h.view_text(view_id))
    assert [a.outcome for a in h.attempts("in_multi_1")] == ["succeeded"]
    assert [a.outcome for a in h.attempts("in_multi_2")] == ["succeeded"]
    with transaction(h.services.sessions) as s:
        keys = [st.idempotency_key for st in s.scalars(select(Settlement))]
    assert len(keys) == 2 and len(set(keys)) == 2  # each invoice its own settlement and key
    # a repeated submission's modal may show the outcome a moment before the alert is updated
    eventually(lambda: alerts(h)[0]["text"].startswith("Settled by <@U0ADMIN>: Multi AG paid CHF 350.00"))
    assert len(alerts(h)) == 1
    eventually(lambda: h.replies("in_multi_1"), message="no thread reply")
    (reply,) = h.replies("in_multi_1")
    assert reply["text"].startswith("✅ Settled by <@U0ADMIN>: CHF 350.00 charged to Visa ·· 4242")


def test_unticked_invoices_stay_owed(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, multi("100.00", "250.00"))
    view_id = h.open_modal(ADMIN, "in_multi_1")
    resp = h.choose(view_id, ADMIN, "pm_multi_2", invoices=[])
    assert resp.json() == {"response_action": "errors", "errors": {"invoices": "Tick at least one invoice to pay."}}
    h.choose(view_id, ADMIN, "pm_multi_2", invoices=["in_multi_2"])
    assert "Charge *CHF 250.00*" in h.view_text(view_id) and "in_multi_1" not in h.view_text(view_id)
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id))

    assert h.attempts("in_multi_1") == [] and len(h.attempts("in_multi_2")) == 1
    eventually(lambda: "✅ paid by" in json.dumps(alerts(h)[0]["blocks"], ensure_ascii=False), message="no edit")
    (alert,) = alerts(h)
    blocks = json.dumps(alert["blocks"], ensure_ascii=False)
    assert "*Owed*\\nCHF 100.00" in blocks and "Settle balance" in blocks
    assert "~`in_multi_2` Renewal 2 — CHF 250.00~ ✅ paid by <@U0ADMIN>" in blocks
    # the thread reply goes through the outbox a moment after the alert's edit
    eventually(lambda: any("Still owed: *CHF 100.00*" in r["text"] for r in h.replies("in_multi_1")), message="reply")
    again = h.open_modal(ADMIN, "in_multi_1")  # one invoice left: nothing to tick
    assert not any(b.get("block_id") == "invoices" for b in h.view(again)["blocks"])
    assert "owes *CHF 100.00* for Renewal 1" in h.view_text(again)


def test_a_balance_paid_with_two_cards_says_what_each_card_paid(h: Harness, tmp_path: Path) -> None:
    acc = multi("100.00", "250.00")
    acc["payment_methods"].append({"card": "5555555555554444"})
    load(h, tmp_path, acc)
    first = h.open_modal(ADMIN, "in_multi_1")
    h.choose(first, ADMIN, "pm_multi_2", invoices=["in_multi_1"])
    h.confirm(first, ADMIN)
    eventually(lambda: "Paid." in h.view_text(first))
    eventually(
        lambda: any("💳 Partly paid by <@U0ADMIN>" in r["text"] for r in h.replies("in_multi_1")), message="reply"
    )
    second = h.open_modal(ADMIN, "in_multi_1")
    h.choose(second, ADMIN, "pm_multi_3")
    h.confirm(second, ADMIN)
    eventually(lambda: "Paid." in h.view_text(second), message=h.view_text(second))
    eventually(
        lambda: alerts(h)[0]["text"].startswith("Settled by <@U0ADMIN>: Multi AG paid CHF 350.00."),
        message=alerts(h)[0]["text"],
    )
    blocks = json.dumps(alerts(h)[0]["blocks"], ensure_ascii=False)
    assert "paid CHF 100.00 by <@U0ADMIN> with Visa ·· 4242; CHF 250.00 by <@U0ADMIN> with Mastercard ·· 4444" in blocks
    assert "~`in_multi_1` Renewal 1 — CHF 100.00~ ✅ paid by <@U0ADMIN> with Visa ·· 4242" in blocks
    assert "~`in_multi_2` Renewal 2 — CHF 250.00~ ✅ paid by <@U0ADMIN> with Mastercard ·· 4444" in blocks
    texts = [r["text"] for r in h.replies("in_multi_1")]
    eventually(
        lambda: any(r["text"].startswith("✅ Settled by <@U0ADMIN>: CHF 250.00") for r in h.replies("in_multi_1"))
    )
    assert [t for t in texts if t.startswith("✅ Settled")] == [] or len(texts) >= 1


def test_two_payments_the_bank_verifies_are_one_verification(h: Harness, tmp_path: Path) -> None:
    """Both invoices charged to the card that always asks the bank: one bank page approves both (the
    sandbox's bank, as a real one may, verifies the payments with one card at once), one button."""
    acc = multi("100.00", "250.00")
    acc["payment_methods"].append({"card": "4000002760003184"})
    load(h, tmp_path, acc)
    view_id = h.open_modal(ADMIN, "in_multi_1")
    h.choose(view_id, ADMIN, "pm_multi_3")
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Verify with your bank" in h.view_text(view_id), message=h.view_text(view_id))
    assert "verify these 2 payments at once* of CHF 350.00" in h.view_text(view_id)
    buttons = [e for b in h.view(view_id)["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")]
    assert [b["text"]["text"] for b in buttons] == ["Verify with your bank"]
    url = local(h, buttons[0]["url"])
    status, page = get(url)
    assert status == 200 and "CHF 350.00" in page and "in_multi_1, in_multi_2" in page
    status, done = post(url, "decision=approve", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "Payment approved" in done
    eventually(lambda: "Paid." in h.view_text(view_id), message=h.view_text(view_id))
    assert all(h.sandbox.get_invoice(i).status == "paid" for i in ("in_multi_1", "in_multi_2"))  # type: ignore[union-attr]
    eventually(lambda: alerts(h)[0]["text"].startswith("Settled by <@U0ADMIN>: Multi AG paid CHF 350.00."))


def test_a_partial_outcome_is_shown_plainly(h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(h, tmp_path, multi("100.00", "250.00"))
    real_pay = h.sandbox.pay_invoice

    def bank_refuses_the_second(
        invoice_id: str, method_id: str, *, idempotency_key: str, off_session: bool = False
    ) -> PaymentResult:
        if invoice_id == "in_multi_2":  # the bank turns down the larger amount
            return PaymentResult(outcome="declined", reason="insufficient_funds", payment_id="")
        return real_pay(invoice_id, method_id, idempotency_key=idempotency_key, off_session=off_session)

    monkeypatch.setattr(h.sandbox, "pay_invoice", bank_refuses_the_second)
    view_id = h.open_modal(ADMIN, "in_multi_1")
    h.choose(view_id, ADMIN, "pm_multi_2")
    h.confirm(view_id, ADMIN)

    eventually(lambda: "Still owed" in h.view_text(view_id), message=h.view_text(view_id))
    text = h.view_text(view_id)
    assert "✅ *CHF 100.00 paid* with Visa ·· 4242 (`in_multi_1`)." in text
    assert "❌ `in_multi_2` (CHF 250.00): Visa ·· 4242 was declined. The card has insufficient funds." in text
    assert "*Still owed: CHF 250.00.*" in text and h.view(view_id)["callback_id"] == "settle_pick"
    eventually(lambda: "✅ paid by" in json.dumps(alerts(h)[0]["blocks"], ensure_ascii=False), message="no edit")
    (alert,) = alerts(h)
    blocks = json.dumps(alert["blocks"], ensure_ascii=False)
    assert "*Owed*\\nCHF 250.00" in blocks and "✅ paid by <@U0ADMIN>" in blocks and "Settle balance" in blocks
    assert "*Last attempt:* <@U0ADMIN>'s payment with Visa ·· 4242 did not go through" in blocks
    eventually(lambda: any("Still owed: *CHF 250.00*" in r["text"] for r in h.replies("in_multi_1")), message="reply")


def test_the_read_model_lists_open_balances(h: Harness, tmp_path: Path) -> None:
    """What App Home, /settle and reminders will read: every open balance with what it owes."""
    from bot.read.balances import open_alerts
    from storage.db import reading

    load(h, tmp_path, multi("100.00", "250.00"))
    with reading(h.services.sessions) as s:
        (balance,) = open_alerts(s)
        assert open_alerts(s, "nosuch") == []
    assert (balance.account_name, balance.owed, len(balance.open_invoices)) == ("Multi AG", "CHF 350.00", 2)
