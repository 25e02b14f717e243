"""The settle modal's builders are pure functions of the read model: call them directly."""

from __future__ import annotations

import json
from dataclasses import replace

from slack_sdk.models.views import View

from bot.billing.base import Card, Invoice, PaymentMethod
from bot.queries import SettleContext, SettlementRecord
from bot.states import SettlementStatus
from handlers import refs
from handlers.ids import CallbackId
from handlers.settle_modal import confirm_view, outcome_text, outcome_view, pick_view, settled_reply
from tests.handlers.test_alert_message import CARD

ALERT = replace(
    CARD,
    account_name="Acme <!channel> & Co",
    invoice_description="Business <@U999> Standard",
    invoice_url=None,
    card_label="Visa ·· 9995",
    declined_method_id="pm_1",
    reason="insufficient_funds",
)
METHODS = [
    PaymentMethod("pm_1", Card("Visa", "9995"), 12, 2029, is_default=True),
    PaymentMethod("pm_2", Card("Visa", "4242"), 1, 2030, is_default=False),
]
CTX = SettleContext(
    alert=ALERT,
    invoice=Invoice("in_1", "acme", 12900, "EUR", "Business <@U999> Standard", "open", None),
    methods=METHODS,
    add_method_url="https://pay.example/add",
    in_flight=None,
)
RECORD = SettlementRecord(
    id=3,
    alert_id=7,
    account_id="acme",
    account_name="Acme <!channel> & Co",
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
    make_default=False,
    view_id="V1",
    alert_channel="C0ACME",
    alert_ts="1.2",
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
    assert "renewal declined: insufficient funds" in method["options"][0]["description"]["text"]
    text = dump(view)
    assert "€129.00" in text and "https://pay.example/add" in text


def test_outside_text_is_escaped_in_every_step() -> None:
    for view in (
        pick_view(CTX),
        confirm_view(RECORD),
        outcome_view(replace(RECORD, status=SettlementStatus.SUCCEEDED), None),
    ):
        text = dump(view)
        assert "<!channel>" not in text and "<@U999>" not in text, text
        assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in outcome_text(RECORD) and "<!channel>" not in settled_reply(RECORD)


def test_a_decline_offers_the_other_cards_and_says_why() -> None:
    view = outcome_view(RECORD, CTX).to_dict()
    assert view["callback_id"] == CallbackId.PICK
    assert "Visa ·· 4242 was declined" in json.dumps(view, ensure_ascii=False)
    method = next(b for b in view["blocks"] if b.get("block_id") == "method")["element"]
    assert "initial_option" not in method  # both cards were declined: nothing is pre-selected


def test_each_status_has_its_own_step() -> None:
    titles = {
        status: outcome_view(replace(RECORD, status=status, verification_url="https://bank.example/v"), None).title
        for status in (SettlementStatus.SUCCEEDED, SettlementStatus.REQUIRES_ACTION, SettlementStatus.CHARGING)
    }
    assert {s: t.text for s, t in titles.items() if t} == {
        SettlementStatus.SUCCEEDED: "Balance settled",
        SettlementStatus.REQUIRES_ACTION: "Bank verification",
        SettlementStatus.CHARGING: "Settling",
    }


def test_long_outside_text_is_cut_to_slacks_limits() -> None:
    huge = replace(
        CTX, alert=replace(ALERT, account_name="A" * 10_000), invoice=replace(CTX.invoice, description="B" * 10_000)
    )
    pick_view(huge).to_dict()  # raises if any field is over Slack's limit
    confirm_view(
        replace(RECORD, account_name="A" * 10_000, invoice_description="B" * 10_000, card_label="C" * 500)
    ).to_dict()
