"""The alert builder is a pure function of state: call it directly."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from slack_sdk.models.blocks import ActionsBlock, Block

from bot.domain.states import AlertState, InvoiceState
from bot.read.cards import AlertCard, InvoiceLine
from handlers.blocks.alert_message import alert_blocks, alert_text, reply_text
from handlers.support.ids import ActionId as Action

LINE = InvoiceLine(
    invoice_id="in_1",
    description="Business Standard, November",
    url="https://billing.example/in_1",
    amount_minor=12900,
    currency="EUR",
    decline_count=1,
    reason="authentication_required",
    paid=False,
)
CARD = AlertCard(
    alert_id=7,
    account_id="acme",
    account_name="Acme <Corp> & Co",
    invoices=(LINE,),
    card_label="Visa ·· 3155",
    declined_method_id="pm_1",
    reason="authentication_required",
    outcome="declined",
    decline_count=1,
    declined_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
    state=AlertState.OPEN,
)
BALANCE = replace(
    CARD,
    account_name="Multi AG",
    invoices=(
        replace(LINE, invoice_id="in_a", amount_minor=10000, currency="CHF", description="Seats", decline_count=2),
        replace(LINE, invoice_id="in_b", amount_minor=25000, currency="CHF", description="Support", url=None),
    ),
    decline_count=3,
)


def buttons(blocks: list[Block]) -> dict[str, dict]:
    out = {}
    for b in blocks:
        if isinstance(b, ActionsBlock):
            for el in b.elements:
                d = el.to_dict()
                out[d.get("action_id")] = d
    return out


def dump(blocks: list[Block]) -> str:
    return json.dumps([b.to_dict() for b in blocks], ensure_ascii=False)  # to_dict runs slack_sdk's validation


def mrkdwn(blocks: list[Block]) -> str:
    """Every text Slack parses as markup (plain_text is shown as it is, so a raw name there is right)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk([b.to_dict() for b in blocks])
    return "\n".join(found)


def test_open_alert_has_everything_an_admin_needs() -> None:
    blocks = alert_blocks(CARD)
    text = dump(blocks)
    assert "€129.00" in text and "Visa ·· 3155" in text and "Strong Customer Authentication" in text
    assert "Acme &lt;Corp&gt; &amp; Co" in text  # user text is escaped in mrkdwn
    b = buttons(blocks)
    assert b[Action.SETTLE_OPEN]["style"] == "primary" and b[Action.SETTLE_OPEN]["value"] == "7"
    assert b[Action.VIEW_INVOICE]["url"] == "https://billing.example/in_1"
    assert "<!date^" in text and "25 Nov 2026 09:30 UTC" in text


def test_a_balance_of_two_invoices_shows_the_total_and_each_invoice() -> None:
    text = dump(alert_blocks(BALANCE))
    assert "*Owed*\\nCHF 350.00" in text
    assert "`in_a` Seats — *CHF 100.00* · declined 2 times" in text and "`in_b` Support — *CHF 250.00*" in text
    assert alert_text(BALANCE).startswith("Payment declined: Multi AG owes CHF 350.00 on Visa ·· 3155.")
    partly = replace(
        BALANCE, invoices=(replace(BALANCE.invoices[0], paid=True, paid_by="U0ADMIN"), BALANCE.invoices[1])
    )
    text = dump(alert_blocks(partly))
    assert "*Owed*\\nCHF 250.00" in text and "~`in_a` Seats — CHF 100.00~ ✅ paid by <@U0ADMIN>" in text


def test_text_fallback_tells_the_story() -> None:
    assert alert_text(CARD).startswith("Payment declined: Acme &lt;Corp&gt; &amp; Co owes €129.00 on Visa ·· 3155.")


def test_paid_alert_has_no_settle_button() -> None:
    paid = replace(
        CARD,
        state=AlertState.PAID,
        invoices=(replace(LINE, paid=True, paid_by="U0ADMIN", paid_with="Visa ·· 4242"),),
        paid_by="U0ADMIN",
        paid_with="Visa ·· 4242",
        paid_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )
    blocks = alert_blocks(paid)
    assert Action.SETTLE_OPEN not in buttons(blocks) and Action.VIEW_INVOICE in buttons(blocks)
    assert "*Acme &lt;Corp&gt; &amp; Co* paid €129.00 by <@U0ADMIN> with Visa ·· 4242, <!date^" in dump(blocks)
    assert alert_text(paid) == "Settled by <@U0ADMIN>: Acme &lt;Corp&gt; &amp; Co paid €129.00."


def test_a_settled_alert_is_collapsed_to_who_what_when_how() -> None:
    """The decline's facts (card, reason, next step, retries) are history once it is settled."""
    paid = replace(
        CARD,
        state=AlertState.PAID,
        invoices=(replace(LINE, paid=True, paid_by="U0ADMIN", paid_with="Visa ·· 4242"),),
        bank_message="Do not honour",
        decline_count=3,
        paid_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )
    text = dump(alert_blocks(paid))
    for gone in ("Declined card", "Why", "Next:", "The bank said", "Do not honour", "Assign", "retry"):
        assert gone not in text, gone
    assert "✅ Settled: Acme" in text and "3 declines" in text and "Declined <!date^" in text
    closed = replace(CARD, state=AlertState.CLOSED, invoices=(replace(LINE, state=InvoiceState.VOIDED),))
    text = dump(alert_blocks(closed))
    assert "*Nothing is owed any more:* 1 voided." in text and "Declined card" not in text and "Why" not in text


def test_a_balance_paid_with_two_cards_says_what_each_paid() -> None:
    two = replace(
        BALANCE,
        state=AlertState.PAID,
        invoices=(
            replace(BALANCE.invoices[0], paid=True, paid_by="U0ADMIN", paid_with="Visa ·· 3184"),
            replace(BALANCE.invoices[1], paid=True, paid_by="U0ANA", paid_with="Visa ·· 4242"),
        ),
        paid_by="U0ANA",
        paid_with="Visa ·· 4242",
        paid_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )
    text = dump(alert_blocks(two))
    assert "paid CHF 100.00 by <@U0ADMIN> with Visa ·· 3184; CHF 250.00 by <@U0ANA> with Visa ·· 4242" in text
    assert alert_text(two) == "Settled: Multi AG paid CHF 350.00."  # two admins paid it: neither alone


def test_last_declined_is_the_latest_declined_attempt_not_the_renewal() -> None:
    later = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    card = replace(
        CARD,
        attempt=2,
        attempt_kind="declined",
        attempt_card="Visa ·· 4242",
        attempt_reason="card_declined",
        attempt_by="U0ADMIN",
        attempt_at=later,
    )
    text = dump(alert_blocks(card))
    assert f"Last declined <!date^{int(later.timestamp())}^" in text and "(attempt 2)" not in text
    assert "payment with Visa ·· 4242 did not go through: declined by the bank." in text
    assert "was declined: declined" not in text
    renewal = dump(alert_blocks(replace(CARD, attempt=2)))
    assert f"Last declined <!date^{int(CARD.declined_at.timestamp())}^" in renewal and "(attempt 2)" in renewal


def test_no_invoice_link_when_the_provider_has_none() -> None:
    card = replace(CARD, invoices=(replace(LINE, url=None),))
    assert Action.VIEW_INVOICE not in buttons(alert_blocks(card))


def test_repeat_declines_and_fallback_are_noted() -> None:
    text = dump(alert_blocks(replace(CARD, decline_count=3, intended_channel="C0ACME")))
    assert "3 declines so far" in text and "<#C0ACME> could not be reached" in text


def test_outside_ids_and_names_never_become_markup() -> None:
    hostile = replace(
        CARD,
        account_name="<!channel> <@U123>",
        invoices=(replace(LINE, invoice_id="<!channel>", description=""),),
        card_label="<!here>",
        attempt_kind="declined",
        attempt_card="<!everyone>",
        attempt_reason="<!here>",
        attempt_by="S|x> <!everyone",
    )
    text = (
        mrkdwn(alert_blocks(hostile))
        + alert_text(hostile)
        + reply_text(hostile, "balance_grew", {"invoice_id": "<!channel>"})
    )
    for markup in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<!subteam"):
        assert markup not in text, markup


def test_thread_replies_say_what_changed() -> None:
    grew = reply_text(BALANCE, "balance_grew", {"invoice_id": "in_b"})
    assert "Another renewal was declined: invoice `in_b` (CHF 250.00). The balance is now *CHF 350.00*." in grew
    again = reply_text(BALANCE, "declined_again", {"invoice_id": "in_a"})
    assert again.startswith("⚠️ Invoice `in_a` (CHF 100.00) was declined again")
    settled = reply_text(
        BALANCE,
        "settled",
        {
            "user_id": "U0ADMIN",
            "card": "Visa ·· 4242",
            "invoices": ["in_a"],
            "amount": "CHF 100.00",
            "still_owed": "CHF 250.00",
        },
    )
    assert (
        settled
        == "💳 Partly paid by <@U0ADMIN>: CHF 100.00 charged to Visa ·· 4242 (`in_a`). Still owed: *CHF 250.00*."
    )
    whole = reply_text(
        BALANCE, "settled", {"user_id": "U0ADMIN", "card": "Visa ·· 4242", "invoices": ["in_a"], "amount": "CHF 100.00"}
    )
    assert whole == "✅ Settled by <@U0ADMIN>: CHF 100.00 charged to Visa ·· 4242 (`in_a`)."


def test_a_balance_paid_partly_outside_settle_credits_no_one_with_all_of_it() -> None:
    mixed = replace(
        BALANCE,
        state=AlertState.PAID,
        invoices=(
            replace(BALANCE.invoices[0], paid=True, paid_by="U0ANA", paid_with="Visa ·· 4242"),
            replace(BALANCE.invoices[1], paid=True),  # the customer paid it in the billing system
        ),
        paid_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )
    assert alert_text(mixed) == "Settled: Multi AG paid CHF 350.00."
    text = dump(alert_blocks(mixed))
    assert "paid CHF 100.00 by <@U0ANA> with Visa ·· 4242; CHF 250.00 outside Settle, <!date^" in text


def test_a_settled_reply_shows_its_amounts_in_the_accounts_language() -> None:
    from bot.i18n import use

    detail = {
        "user_id": "U0ADMIN",
        "card": "Visa ·· 4242",
        "invoices": ["in_a"],
        "paid_minor": {"CHF": 1234567},
        "owed_minor": {"CHF": 25000, "EUR": 500},
    }
    assert "CHF 12,345.67 charged" in reply_text(BALANCE, "settled", detail)  # English, whoever clicked
    with use("nl"):
        dutch = reply_text(BALANCE, "settled", detail)
    assert "CHF\xa012.345,67" in dutch and "CHF\xa0250,00 + €\xa05,00" in dutch
