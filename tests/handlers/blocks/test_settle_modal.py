"""The settle modal's builders are pure functions of the read model: call them directly."""

from __future__ import annotations

import json
from dataclasses import replace

from slack_sdk.models.views import View

from bot.domain.records import Card, Invoice, PaymentMethod
from bot.domain.states import SettlementStatus
from bot.read.batches import BatchRecord, BatchStatus, SettlementRecord
from bot.read.context import SettleContext
from handlers.blocks.settle_modal import confirm_view, outcome_text, outcome_view, pick_view, verify_view
from handlers.support import refs
from handlers.support.ids import CallbackId
from tests.handlers.blocks.test_alert_message import BALANCE, CARD

ALERT = replace(
    CARD,
    account_name="Acme <!channel> & Co",
    invoices=(replace(CARD.invoices[0], description="Business <@U999> Standard", url=None),),
    card_label="Visa ·· 9995",
    declined_method_id="pm_1",
    reason="insufficient_funds",
)
METHODS = [
    PaymentMethod("pm_1", Card("Visa", "9995"), 12, 2029, is_default=True),
    PaymentMethod("pm_2", Card("Visa", "4242"), 1, 2030, is_default=False),
]
INVOICE = Invoice("in_1", "acme", 12900, "EUR", "Business <@U999> Standard", "open", None)
CTX = SettleContext(
    alert=ALERT, invoices=[INVOICE], methods=METHODS, add_method_url="https://pay.example/add", in_flight=None
)
SETTLEMENT = SettlementRecord(
    id=3,
    batch_id=5,
    alert_id=7,
    account_id="acme",
    invoice_id="in_1",
    invoice_description="Business <@U999> Standard",
    amount_minor=12900,
    currency="EUR",
    card_label="Visa ·· 4242",
    payment_method_id="pm_2",
    user_id="U0ADMIN",
    status=SettlementStatus.DECLINED,
    reason="generic_decline",
    verification_url=None,
)
BATCH = BatchRecord(
    id=5,
    alert_id=7,
    account_id="acme",
    account_name="Acme <!channel> & Co",
    user_id="U0ADMIN",
    card_label="Visa ·· 4242",
    payment_method_id="pm_2",
    make_default=False,
    settlements=(SETTLEMENT,),
    still_owed=ALERT.invoices,
    alert_channel="C0ACME",
)


def dump(view: View) -> str:
    return json.dumps(view.to_dict(), ensure_ascii=False)  # to_dict runs slack_sdk's validation


def test_pick_view_lists_every_card_and_never_preselects_the_declined_one() -> None:
    view = pick_view(CTX)
    d = view.to_dict()
    assert d["callback_id"] == CallbackId.PICK and refs.parse(d["private_metadata"], "alert") == 7
    method = next(b for b in d["blocks"] if b.get("block_id") == "method")["element"]
    assert [o["value"] for o in method["options"]] == ["pm_1", "pm_2"]
    assert method["initial_option"]["value"] == "pm_2"
    assert "declined at renewal" in method["options"][0]["description"]["text"]
    assert json.dumps(d).count("insufficient funds") == 1  # the reason is said once
    text = dump(view)
    assert "€129.00" in text and "https://pay.example/add" in text
    assert not any(b.get("block_id") == "invoices" for b in d["blocks"])  # one invoice: nothing to tick


def test_a_card_just_added_is_chosen() -> None:
    added = PaymentMethod("pm_3", Card("Mastercard", "4444"), 1, 2031, is_default=False)
    view = pick_view(replace(CTX, methods=[*METHODS, added], preselect_method_id="pm_3")).to_dict()
    method = next(b for b in view["blocks"] if b.get("block_id") == "method")["element"]
    assert (
        method["initial_option"]["value"] == "pm_3" and "just added" in method["initial_option"]["description"]["text"]
    )


def test_a_balance_of_several_invoices_offers_each_ticked() -> None:
    invoices = [
        Invoice("in_a", "multi", 10000, "CHF", "Seats", "open", None),
        Invoice("in_b", "multi", 25000, "CHF", "Support", "open", None),
    ]
    view = pick_view(replace(CTX, alert=BALANCE, invoices=invoices)).to_dict()
    text = json.dumps(view, ensure_ascii=False)
    assert "owes *CHF 350.00* on 2 invoices" in text
    chooser = next(b for b in view["blocks"] if b.get("block_id") == "invoices")["element"]
    assert [o["value"] for o in chooser["options"]] == ["in_a", "in_b"]
    assert [o["value"] for o in chooser["initial_options"]] == ["in_a", "in_b"]


def test_outside_text_is_escaped_in_every_step() -> None:
    paid = replace(BATCH, settlements=(replace(SETTLEMENT, status=SettlementStatus.SUCCEEDED),))
    for view in (pick_view(CTX), confirm_view(BATCH), outcome_view(paid, None), outcome_view(BATCH, CTX)):
        text = dump(view)
        assert "<!channel>" not in text and "<@U999>" not in text, text
    assert "&lt;!channel&gt;" in dump(pick_view(CTX))
    assert "<!channel>" not in outcome_text(BATCH) and "<!channel>" not in outcome_text(paid)


def test_a_decline_offers_the_other_cards_and_says_why() -> None:
    view = outcome_view(BATCH, CTX).to_dict()
    assert view["callback_id"] == CallbackId.PICK
    text = json.dumps(view, ensure_ascii=False)
    assert "Visa ·· 4242 was declined. The bank declined the card without giving a reason." in text
    assert text.count("without giving a reason") == 1
    method = next(b for b in view["blocks"] if b.get("block_id") == "method")["element"]
    assert "initial_option" not in method  # both cards were declined: nothing is pre-selected


def test_a_partial_outcome_says_what_was_paid_and_what_is_still_owed() -> None:
    paid = replace(
        SETTLEMENT, id=4, invoice_id="in_a", amount_minor=10000, currency="CHF", status=SettlementStatus.SUCCEEDED
    )
    declined = replace(SETTLEMENT, invoice_id="in_b", amount_minor=25000, currency="CHF")
    batch = replace(BATCH, settlements=(paid, declined), still_owed=(BALANCE.invoices[1],))
    assert batch.status == BatchStatus.PARTIAL
    text = outcome_text(batch)
    assert "✅ *CHF 100.00 paid* with Visa ·· 4242 (`in_a`)." in text
    assert "❌ `in_b` (CHF 250.00): Visa ·· 4242 was declined." in text and "*Still owed: CHF 250.00.*" in text


def test_each_status_has_its_own_step() -> None:
    def title(status: SettlementStatus) -> str:
        batch = replace(
            BATCH, settlements=(replace(SETTLEMENT, status=status, verification_url="https://bank.example/v"),)
        )
        t = outcome_view(batch, None).title
        return t.text if t else ""

    assert title(SettlementStatus.SUCCEEDED) == "Balance settled"
    assert title(SettlementStatus.REQUIRES_ACTION) == "Bank verification"
    assert title(SettlementStatus.CHARGING) == "Settling"


def test_the_confirmation_has_back_and_names_each_invoice() -> None:
    view = confirm_view(BATCH).to_dict()
    assert view["close"]["text"] == "Back" and view["submit"]["text"] == "Charge €129.00"
    assert "`in_1`" in json.dumps(view) and refs.parse(view["private_metadata"], "batch") == 5


def test_long_outside_text_is_cut_to_slacks_limits() -> None:
    huge_alert = replace(ALERT, account_name="A" * 10_000)
    huge = replace(CTX, alert=huge_alert, invoices=[replace(INVOICE, description="B" * 10_000)])
    pick_view(huge).to_dict()  # raises if any field is over Slack's limit
    confirm_view(
        replace(
            BATCH,
            account_name="A" * 10_000,
            card_label="C" * 500,
            settlements=(replace(SETTLEMENT, invoice_description="B" * 10_000),),
        )
    ).to_dict()


def test_one_reason_for_several_invoices_is_said_once() -> None:
    a = replace(SETTLEMENT, invoice_id="in_a", amount_minor=10000, currency="CHF")
    b = replace(SETTLEMENT, id=4, invoice_id="in_b", amount_minor=25000, currency="CHF")
    text = outcome_text(replace(BATCH, settlements=(a, b), still_owed=BALANCE.invoices))
    assert "❌ `in_a` (CHF 100.00) and `in_b` (CHF 250.00): Visa ·· 4242 was declined." in text
    assert text.count("without giving a reason") == 1


def test_two_verifications_are_labelled_by_what_they_pay_not_by_invoice_id() -> None:
    waiting = replace(SETTLEMENT, status=SettlementStatus.REQUIRES_ACTION, reason=None)
    two = replace(
        BATCH,
        settlements=(
            replace(waiting, verification_url="https://bank.example/v1"),
            replace(
                waiting,
                id=4,
                invoice_id="in_2",
                invoice_description="Seats " + "x" * 200,
                amount_minor=4900,
                verification_url="https://bank.example/v2",
            ),
        ),
    )
    blocks = verify_view(two).to_dict()["blocks"]
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e.get("url")]
    assert labels[0] == "Verify €129.00 · Business <@U999> Standard"  # plain text: Slack shows it, pings no one
    assert labels[1].startswith("Verify €49.00 · Seats xxx") and labels[1].endswith("…") and len(labels[1]) <= 75
    assert not any("in_1" in label or "in_2" in label for label in labels)
    assert "these 2 payments (one per invoice)" in dump(verify_view(two))
    one = replace(
        two, settlements=tuple(replace(st, verification_url="https://bank.example/v1") for st in two.settlements)
    )
    shared = [
        e for b in verify_view(one).to_dict()["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")
    ]
    assert [e["text"]["text"] for e in shared] == ["Verify with your bank"]
    assert "these 2 payments at once" in dump(verify_view(one))
