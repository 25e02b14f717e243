"""Block Kit for the decline alert: a pure function of an AlertCard."""

from __future__ import annotations

from datetime import datetime

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

from bot.alert_card import AlertCard
from bot.decline_reasons import explain
from handlers.ids import Action
from handlers.ids import Block as BlockId


def slack_date(at: datetime) -> str:
    """A date Slack renders in each reader's own time zone, with a UTC fallback."""
    fallback = at.strftime("%d %b %Y %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_text(card: AlertCard) -> str:
    """Notification and screen-reader fallback: the whole story in one line."""
    if card.state == "paid":
        who = f" by <@{card.paid_by}>" if card.paid_by else ""
        return f"Settled: {card.account_name} paid {card.amount}{who}."
    card_part = f" on {card.card_label}" if card.card_label else ""
    if card.state == "verification_pending":
        return f"{card.account_name}: {card.amount}{card_part} is waiting for bank verification."
    return f"Payment declined: {card.account_name}, {card.amount}{card_part}. {explain(card.reason).why}"


def _header(card: AlertCard) -> str:
    if card.state == "paid":
        return f"✅ Settled: {card.account_name}"
    if card.state == "verification_pending":
        return f"🔐 Waiting for bank verification: {card.account_name}"
    if card.state == "settling":
        return f"⏳ Being settled: {card.account_name}"
    return f"⚠️ Payment declined: {card.account_name}"


def alert_blocks(card: AlertCard) -> list[Block]:
    reason = explain(card.reason)
    invoice = escape(card.invoice_description) if card.invoice_description else card.invoice_id
    declined = card.card_label or "the default payment method"
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.ALERT_HEADER, text=PlainTextObject(text=_header(card)[:150], emoji=True)),
        SectionBlock(
            block_id=BlockId.ALERT_FACTS,
            fields=[
                MarkdownTextObject(text=f"*Amount*\n{card.amount}"),
                MarkdownTextObject(text=f"*Invoice*\n{invoice}"),
                MarkdownTextObject(text=f"*Declined card*\n{declined}"),
                MarkdownTextObject(text=f"*Account*\n{escape(card.account_name)}"),
            ],
        ),
    ]
    if card.state == "paid":
        who = f" by <@{card.paid_by}>" if card.paid_by else ""
        how = f" with {card.paid_with}" if card.paid_with else ""
        when = f", {slack_date(card.paid_at)}" if card.paid_at else ""
        blocks.append(
            SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=f"*Paid{who}{how}*{when}."))
        )
    else:
        text = f"*Why:* {reason.why}\n*Next:* {reason.next_step}"
        if card.note:
            text = f"*Last attempt:* {card.note}\n" + text
        if card.state == "settling":
            text = f"*<@{card.pending_by}> is settling this balance now.*\n" + text
        if card.state == "verification_pending":
            by = f"<@{card.pending_by}>'s payment" if card.pending_by else "A payment"
            text = f"*Bank verification pending:* {by} is waiting for the bank's approval.\n" + text
        blocks.append(SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=text)))

    buttons: list[ButtonElement] = []
    if card.state in ("open", "verification_pending"):
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Settle balance"),
                action_id=Action.SETTLE_OPEN,
                value=str(card.alert_id),
                style="primary",
            )
        )
    if card.invoice_url:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="View invoice"), action_id=Action.VIEW_INVOICE, url=card.invoice_url
            )
        )
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.ALERT_ACTIONS, elements=buttons))

    footer = f"Declined {slack_date(card.declined_at)}"
    if card.decline_count > 1:
        footer += f" · {card.decline_count} declines so far"
    footer += f" · invoice `{card.invoice_id}`"
    if card.intended_channel:
        footer += f" · posted here because <#{card.intended_channel}> could not be reached"
    blocks += [DividerBlock(), ContextBlock(block_id=BlockId.ALERT_FOOTER, elements=[MarkdownTextObject(text=footer)])]
    return blocks
