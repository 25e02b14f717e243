"""A pasted invoice or customer link, unfurled into its balance: in a channel where the account's
alerts go, account, amount and state with a Settle balance button; anywhere else only that the
invoice exists and its state (bot/read/unfurls.py says why)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.decline_reasons import short
from bot.domain.states import ALERT_DONE, AlertState
from bot.i18n import _, use
from bot.read.cards import total
from bot.read.unfurls import Unfurl
from handlers.blocks.balance_list import duration
from handlers.blocks.mrkdwn import CONTEXT, SECTION, clip, code, safe, user
from handlers.support.ids import ActionId


def state_words(found: Unfurl) -> str:
    """Where the balance is, with names only in the full card."""
    card = found.card
    if card.state == AlertState.PAID:
        if found.full and card.paid_by:
            return _("✅ settled by {who}").format(who=user(card.paid_by))
        return _("✅ settled")
    if card.state == AlertState.CLOSED:
        return _("closed: nothing is owed any more")
    if card.state == AlertState.SETTLING:
        return _("⏳ being settled by {who}").format(who=user(card.pending_by)) if found.full else _("⏳ being settled")
    if card.state == AlertState.VERIFICATION_PENDING:
        return _("🔐 waiting for the bank")
    if found.full and card.reason:  # no reason known: "declined" alone, not "declined: declined"
        return _("⚠️ declined: {why}").format(why=short(card.reason))
    return _("⚠️ declined")


def unfurl_blocks(found: Unfurl, now: datetime | None = None) -> list[Block]:
    card = found.card
    open_for = duration(int(((now or datetime.now(UTC)) - (card.opened_at or card.declined_at)).total_seconds()))
    invoice = _("Invoice {invoice}").format(invoice=code(found.invoice_id)) if found.invoice_id else None
    button = None
    if card.state == AlertState.OPEN and found.full:  # elsewhere a refusal would name the account and its admins
        button = ButtonElement(
            text=PlainTextObject(text=_("Settle balance")),
            action_id=ActionId.SETTLE_OPEN,
            value=str(card.alert_id),
            style="primary",
        )
    if found.full:
        name, state = safe(card.account_name, 200), state_words(found)
        if card.state in ALERT_DONE:
            head = _("🧾 *{name}* · {amount} · {state}").format(name=name, amount=total(card.invoices), state=state)
        else:
            head = _("🧾 *{name}* · *{owed}* owed · {state}").format(name=name, owed=card.owed, state=state)
        age = None if card.state in ALERT_DONE else _("open for {since}").format(since=open_for)
        note = " · ".join(p for p in (invoice, age) if p)
    else:
        head = _("🧾 {what} · {state}").format(what=invoice or _("A customer's balance"), state=state_words(found))
        note = _("Amounts, names and Settle balance are in the account's alert channel, for its billing admins.")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(head, SECTION)), accessory=button)]
    if note:  # a customer link to a balance that is over has nothing more to say
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(note, CONTEXT))]))
    return blocks


def unfurl(found: Unfurl) -> dict[str, Any]:
    """One link's entry in chat.unfurl's `unfurls`, in the account's language."""
    with use(found.card.language):
        return {"blocks": [b.to_dict() for b in unfurl_blocks(found)]}
