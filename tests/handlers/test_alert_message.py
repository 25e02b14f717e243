"""The alert builder is a pure function of state: call it directly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from slack_sdk.models.blocks import ActionsBlock, Block

from bot.queries import AlertCard
from handlers.alert_message import alert_blocks, alert_text
from handlers.ids import ActionId as Action

CARD = AlertCard(
    alert_id=7,
    account_id="acme",
    account_name="Acme <Corp> & Co",
    invoice_id="in_1",
    invoice_description="Business Standard, November",
    invoice_url="https://billing.example/in_1",
    amount_minor=12900,
    currency="EUR",
    card_label="Visa ·· 3155",
    declined_method_id="pm_1",
    reason="authentication_required",
    outcome="declined",
    decline_count=1,
    declined_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
    state="open",
)


def buttons(blocks: list[Block]) -> dict[str, dict]:
    out = {}
    for b in blocks:
        if isinstance(b, ActionsBlock):
            for el in b.elements:
                d = el.to_dict()
                out[d.get("action_id")] = d
    return out


def test_open_alert_has_everything_an_admin_needs() -> None:
    blocks = alert_blocks(CARD)
    dump = str([b.to_dict() for b in blocks])  # to_dict runs slack_sdk's validation
    assert "€129.00" in dump and "Visa ·· 3155" in dump and "Strong Customer Authentication" in dump
    assert "Acme &lt;Corp&gt; &amp; Co" in dump  # user text is escaped in mrkdwn
    b = buttons(blocks)
    assert b[Action.SETTLE_OPEN]["style"] == "primary" and b[Action.SETTLE_OPEN]["value"] == "7"
    assert b[Action.VIEW_INVOICE]["url"] == "https://billing.example/in_1"
    assert "<!date^" in dump and "25 Nov 2026 09:30 UTC" in dump


def test_text_fallback_tells_the_story() -> None:
    assert alert_text(CARD).startswith("Payment declined: Acme &lt;Corp&gt; &amp; Co, €129.00 on Visa ·· 3155.")


def test_paid_alert_has_no_settle_button() -> None:
    paid = replace(
        CARD,
        state="paid",
        paid_by="U0ADMIN",
        paid_with="Visa ·· 4242",
        paid_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )
    blocks = alert_blocks(paid)
    assert Action.SETTLE_OPEN not in buttons(blocks) and Action.VIEW_INVOICE in buttons(blocks)
    dump = str([b.to_dict() for b in blocks])
    assert "Paid by <@U0ADMIN> with Visa ·· 4242" in dump
    assert alert_text(paid) == "Settled: Acme &lt;Corp&gt; &amp; Co paid €129.00 by <@U0ADMIN>."


def test_no_invoice_link_when_the_provider_has_none() -> None:
    assert Action.VIEW_INVOICE not in buttons(alert_blocks(replace(CARD, invoice_url=None)))


def test_repeat_declines_and_fallback_are_noted() -> None:
    dump = str([b.to_dict() for b in alert_blocks(replace(CARD, decline_count=3, intended_channel="C0ACME"))])
    assert "3 declines so far" in dump and "<#C0ACME> could not be reached" in dump
