"""Block Kit for the decline alert: pure functions of an AlertCard."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.decline_reasons import explain
from bot.queries import AlertCard
from bot.states import AlertState
from handlers.ids import ActionId, BlockId
from handlers.mrkdwn import CONTEXT, FIELD, HEADER, MESSAGE_TEXT, SECTION, channel, clip, code, safe, slack_date, user


def alert_text(card: AlertCard) -> str:
    """Notification and screen-reader fallback: the whole story in one line."""
    name = safe(card.account_name, 200)
    if card.state == AlertState.PAID:
        who = f" by {user(card.paid_by)}" if card.paid_by else ""
        return f"Settled: {name} paid {card.amount}{who}."
    card_part = f" on {card.card_label}" if card.card_label else ""
    if card.state == AlertState.VERIFICATION_PENDING:
        return f"{name}: {card.amount}{card_part} is waiting for bank verification."
    return clip(f"Payment declined: {name}, {card.amount}{card_part}. {explain(card.reason).why}", MESSAGE_TEXT)


def _header(card: AlertCard) -> str:
    if card.state == AlertState.PAID:
        return f"✅ Settled: {card.account_name}"
    if card.state == AlertState.VERIFICATION_PENDING:
        return f"🔐 Waiting for bank verification: {card.account_name}"
    if card.state == AlertState.SETTLING:
        return f"⏳ Being settled: {card.account_name}"
    return f"⚠️ Payment declined: {card.account_name}"


def alert_blocks(card: AlertCard) -> list[Block]:
    reason = explain(card.reason)
    invoice = safe(card.invoice_description, FIELD - 20) if card.invoice_description else code(card.invoice_id)
    declined = safe(card.card_label, 100) if card.card_label else "the default payment method"
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.ALERT_HEADER, text=PlainTextObject(text=clip(_header(card), HEADER), emoji=True)),
        SectionBlock(
            block_id=BlockId.ALERT_FACTS,
            fields=[
                MarkdownTextObject(text=f"*Amount*\n{card.amount}"),
                MarkdownTextObject(text=f"*Invoice*\n{invoice}"),
                MarkdownTextObject(text=f"*Declined card*\n{declined}"),
                MarkdownTextObject(text=f"*Account*\n{safe(card.account_name, FIELD - 20)}"),
            ],
        ),
    ]
    if card.state == AlertState.PAID:
        who = f" by {user(card.paid_by)}" if card.paid_by else ""
        how = f" with {safe(card.paid_with, 100)}" if card.paid_with else ""
        when = f", {slack_date(card.paid_at)}" if card.paid_at else ""
        blocks.append(
            SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=f"*Paid{who}{how}*{when}."))
        )
    else:
        text = f"*Why:* {reason.why}\n*Next:* {reason.next_step}"
        if card.note:
            by = f"{user(card.note_by)}'s " if card.note_by else ""
            text = f"*Last attempt:* {by}{safe(card.note, 1000)}\n" + text
        if card.state == AlertState.SETTLING:
            text = f"*{user(card.pending_by)} is settling this balance now.*\n" + text
        if card.state == AlertState.VERIFICATION_PENDING:
            by = f"{user(card.pending_by)}'s payment" if card.pending_by else "A payment"
            text = f"*Bank verification pending:* {by} is waiting for the bank's approval.\n" + text
        blocks.append(SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=clip(text, SECTION))))

    buttons: list[ButtonElement] = []
    if card.state in (AlertState.OPEN, AlertState.VERIFICATION_PENDING):
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Settle balance"),
                action_id=ActionId.SETTLE_OPEN,
                value=str(card.alert_id),
                style="primary",
            )
        )
    if card.invoice_url:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="View invoice"), action_id=ActionId.VIEW_INVOICE, url=card.invoice_url
            )
        )
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.ALERT_ACTIONS, elements=buttons))

    footer = f"Declined {slack_date(card.declined_at)}"
    if card.decline_count > 1:
        footer += f" · {card.decline_count} declines so far"
    footer += f" · invoice {code(card.invoice_id)}"
    if card.intended_channel:
        footer += f" · posted here because {channel(card.intended_channel)} could not be reached"
    blocks += [
        DividerBlock(),
        ContextBlock(block_id=BlockId.ALERT_FOOTER, elements=[MarkdownTextObject(text=clip(footer, CONTEXT))]),
    ]
    return blocks


class AlertMessage:
    """The AlertRenderer the deliverer is given."""

    def text(self, card: AlertCard) -> str:
        return alert_text(card)

    def blocks(self, card: AlertCard) -> list[Block]:
        return alert_blocks(card)
