"""Block Kit for the balance alert and its thread replies: pure functions of an AlertCard."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
    UserSelectElement,
)

from bot.decline_reasons import explain
from bot.queries import AlertCard, InvoiceLine
from bot.slack_ids import USER
from bot.states import ALERT_DONE, AlertState, InvoiceState
from handlers.balance_list import duration
from handlers.ids import ActionId, BlockId
from handlers.mrkdwn import CONTEXT, FIELD, HEADER, MESSAGE_TEXT, SECTION, channel, clip, code, safe, slack_date, user
from handlers.refs import ASSIGN_BLOCK, encode

SHOWN_INVOICES = 10


def alert_text(card: AlertCard) -> str:
    """Notification and screen-reader fallback: the whole story in one line."""
    name = safe(card.account_name, 200)
    test = "[Test mode] " if card.test_mode else ""
    if card.state == AlertState.PAID:
        who = f" by {user(card.paid_by)}" if card.paid_by else ""
        return f"{test}Settled: {name} paid {card.amount}{who}."
    if card.state == AlertState.CLOSED:
        return f"{test}Closed: nothing is owed by {name} any more ({_closed_how(card)})."
    card_part = f" on {safe(card.card_label, 100)}" if card.card_label else ""
    if card.state == AlertState.VERIFICATION_PENDING:
        return f"{name} owes {card.owed}; a payment is waiting for bank verification."
    text = f"{test}Payment declined: {name} owes {card.owed}{card_part}. {explain(card.reason).why}"
    return clip(text, MESSAGE_TEXT)


_CLOSED_WORDS = {InvoiceState.VOIDED: "voided", InvoiceState.UNCOLLECTIBLE: "written off", InvoiceState.PAID: "paid"}


def _closed_how(card: AlertCard) -> str:
    """ "1 voided, 1 paid": how the invoices of a closed balance ended."""
    counts = Counter(line.state for line in card.invoices)
    return ", ".join(f"{counts[state]} {word}" for state, word in _CLOSED_WORDS.items() if counts[state])


def _header(card: AlertCard) -> str:
    test = "🧪 Test mode · " if card.test_mode else ""
    return test + _state_header(card)


def _state_header(card: AlertCard) -> str:
    if card.state == AlertState.CLOSED:
        return f"🗂️ Closed: {card.account_name}"
    if card.state == AlertState.PAID:
        return f"✅ Settled: {card.account_name}"
    if card.state == AlertState.VERIFICATION_PENDING:
        return f"🔐 Waiting for bank verification: {card.account_name}"
    if card.state == AlertState.SETTLING:
        return f"⏳ Being settled: {card.account_name}"
    return f"⚠️ Payment declined: {card.account_name}"


def invoice_line(line: InvoiceLine) -> str:
    """ "• `in_1` Business Standard — CHF 100.00 · declined 2 times", struck through once paid."""
    desc = f" {safe(line.description, 200)}" if line.description else ""
    if line.state == InvoiceState.PAID:
        by = f" by {user(line.paid_by)}" if line.paid_by else ""
        return f"• ~{code(line.invoice_id)}{desc} — {line.amount}~ ✅ paid{by}"
    if line.state != InvoiceState.OPEN:
        return f"• ~{code(line.invoice_id)}{desc} — {line.amount}~ {_CLOSED_WORDS[line.state]} in the billing system"
    times = f" · declined {line.decline_count} times" if line.decline_count > 1 else ""
    return f"• {code(line.invoice_id)}{desc} — *{line.amount}*{times}"


def invoice_list(lines: tuple[InvoiceLine, ...], limit: int = SHOWN_INVOICES) -> str:
    shown = [invoice_line(line) for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"…and {len(lines) - limit} more")
    return clip("\n".join(shown), SECTION)


def alert_blocks(card: AlertCard) -> list[Block]:
    reason = explain(card.reason)
    declined = safe(card.card_label, 100) if card.card_label else "the default payment method"
    owed_label = {AlertState.PAID: "Paid", AlertState.CLOSED: "Was owed"}.get(card.state, "Owed")
    count = len(card.invoices)
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.ALERT_HEADER, text=PlainTextObject(text=clip(_header(card), HEADER), emoji=True)),
        SectionBlock(
            block_id=BlockId.ALERT_FACTS,
            fields=[
                MarkdownTextObject(text=f"*{owed_label}*\n{card.amount}"),
                MarkdownTextObject(text=f"*Account*\n{safe(card.account_name, FIELD - 20)}"),
                MarkdownTextObject(text=f"*Declined card*\n{declined}"),
                MarkdownTextObject(text=f"*Invoices*\n{count} declined" if count != 1 else "*Invoice*\n1 declined"),
            ],
        ),
        SectionBlock(block_id=BlockId.ALERT_INVOICES, text=MarkdownTextObject(text=invoice_list(card.invoices))),
    ]
    if card.state == AlertState.PAID:
        who = f" by {user(card.paid_by)}" if card.paid_by else ""
        how = f" with {safe(card.paid_with, 100)}" if card.paid_with else ""
        when = f", {slack_date(card.paid_at)}" if card.paid_at else ""
        blocks.append(
            SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=f"*Paid{who}{how}*{when}."))
        )
    elif card.state == AlertState.CLOSED:
        text = f"*Nothing is owed any more:* {_closed_how(card)}. Nobody needs to settle this balance."
        blocks.append(SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=text)))
    else:
        why = "*Why the renewal was declined:*" if card.note else "*Why:*"
        lines = [f"{why} {reason.why}", f"*Next:* {reason.next_step}"]
        if card.bank_message:
            lines.insert(1, f"*The bank said:* “{safe(card.bank_message, 300)}”")
        if card.note:
            by = f"{user(card.note_by)}'s " if card.note_by else ""
            lines.insert(0, f"*Last attempt:* {by}{safe(card.note, 1000)}")
        if card.state == AlertState.SETTLING:
            lines.insert(0, f"*{user(card.pending_by)} is settling this balance now.*")
        if card.state == AlertState.VERIFICATION_PENDING:
            by = f"{user(card.pending_by)}'s payment" if card.pending_by else "A payment"
            lines.insert(0, f"*Bank verification pending:* {by} is waiting for the bank's approval.")
        lines += follow_up_lines(card)
        blocks.append(
            SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=clip("\n".join(lines), SECTION)))
        )

    buttons: list[ButtonElement | OverflowMenuElement] = []
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
        label = "View invoice" if len(card.open_invoices or card.invoices) == 1 else "View first invoice"
        buttons.append(
            ButtonElement(text=PlainTextObject(text=label), action_id=ActionId.VIEW_INVOICE, url=card.invoice_url)
        )
    if card.state not in ALERT_DONE:
        buttons.append(alert_menu(card))
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.ALERT_ACTIONS, elements=buttons))
    if card.state not in ALERT_DONE:
        picker = UserSelectElement(
            placeholder=PlainTextObject(text="Assign to…" if not card.assignee else "Reassign to…"),
            action_id=ActionId.ASSIGN,
            initial_user=card.assignee if card.assignee and USER.match(card.assignee) else None,
        )
        blocks.append(ActionsBlock(block_id=f"{ASSIGN_BLOCK}{card.alert_id}", elements=[picker]))

    footer = f"Last declined {slack_date(card.declined_at)}"
    if card.attempt:
        footer += f" (attempt {card.attempt})"
    if card.decline_count > 1:
        footer += f" · {card.decline_count} declines so far"
    if card.retries_known and card.state not in ALERT_DONE:
        footer += (
            f" · next automatic retry {slack_date(card.next_attempt_at)}"
            if card.next_attempt_at
            else " · no automatic retry left"
        )
    if card.test_mode:
        footer += " · test mode: no real money"
    if card.intended_channel:
        footer += f" · posted here because {channel(card.intended_channel)} could not be reached"
    blocks += [
        DividerBlock(),
        ContextBlock(block_id=BlockId.ALERT_FOOTER, elements=[MarkdownTextObject(text=clip(footer, CONTEXT))]),
    ]
    return blocks


def follow_up_lines(card: AlertCard, now: datetime | None = None) -> list[str]:
    """Who the balance is assigned to, and whether it is snoozed (reminders wait until then)."""
    lines = []
    if card.assignee:
        by = f" by {user(card.assigned_by)}" if card.assigned_by and card.assigned_by != card.assignee else ""
        lines.append(f"*Assigned to* {user(card.assignee)}{by}.")
    if card.snoozed_until and card.snoozed_until > (now or datetime.now(UTC)):
        lines.append(
            f"💤 *Snoozed* by {user(card.snoozed_by)} until {slack_date(card.snoozed_until)}: no reminders until then."
        )
    return lines


def alert_menu(card: AlertCard) -> OverflowMenuElement:
    options = [
        Option(text=PlainTextObject(text="Snooze 1 day"), value=encode("alert", card.alert_id, "snooze_1d")),
        Option(text=PlainTextObject(text="Snooze 3 days"), value=encode("alert", card.alert_id, "snooze_3d")),
        Option(text=PlainTextObject(text="Snooze until a date…"), value=encode("alert", card.alert_id, "snooze_date")),
    ]
    if card.snoozed_until:
        options.append(Option(text=PlainTextObject(text="Stop snoozing"), value=encode("alert", card.alert_id, "wake")))
    if card.assignee:
        options.append(Option(text=PlainTextObject(text="Unassign"), value=encode("alert", card.alert_id, "unassign")))
    return OverflowMenuElement(action_id=ActionId.ALERT_MENU, options=options)


def reply_text(card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
    """The thread replies under an alert: a later decline, a balance that grew, a settlement."""
    invoice = code(str(detail.get("invoice_id", "")))
    line = next((i for i in card.invoices if i.invoice_id == detail.get("invoice_id")), None)
    amount = f" ({line.amount})" if line else ""
    if kind == "balance_grew":
        return f"⚠️ Another renewal was declined: invoice {invoice}{amount}. The balance is now *{card.owed}*."
    if kind == "declined_again":
        return f"⚠️ Invoice {invoice}{amount} was declined again: {explain(card.reason).why}"
    if kind in ("reminder", "escalated", "escalated_elsewhere"):
        return _follow_up(card, kind, detail)
    if kind == "settled":
        invoices = ", ".join(code(str(i)) for i in detail.get("invoices") or [])
        text = (
            f"✅ Settled by {user(str(detail.get('user_id') or ''))}: {detail.get('amount')} charged to "
            f"{safe(str(detail.get('card') or ''), 100)} ({invoices})."
        )
        if detail.get("still_owed"):
            text += f" Still owed: *{detail['still_owed']}*."
        return clip(text, MESSAGE_TEXT)
    return clip(f"Update on this balance: {safe(kind, 50)}.", MESSAGE_TEXT)


def _follow_up(card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
    who = " ".join(user(str(m)) for m in detail.get("mention") or [] if m)
    open_for = duration(int(detail.get("open_for") or 0))
    name = safe(card.account_name, 200)
    if kind == "reminder":
        ask = f"{who}, can you settle it?" if who else "Can an admin settle it?"
        return clip(
            f"⏰ Reminder: this balance of *{card.owed}* has been open for {open_for}. {ask} "
            "(Snooze or assign it from the alert's menu.)",
            MESSAGE_TEXT,
        )
    if kind == "escalated":
        return clip(f"🚨 Escalated: open for {open_for}, *{card.owed}* still owed. {who}".rstrip(), MESSAGE_TEXT)
    where = channel(str(detail.get("alert_channel") or "")) if detail.get("alert_channel") else "its channel"
    return clip(
        f"🚨 *{name}* still owes *{card.owed}*, open for {open_for} and not settled: "
        f"see the alert in {where}. {who}".rstrip(),
        MESSAGE_TEXT,
    )


class AlertMessage:
    """The AlertRenderer the deliverer is given."""

    def text(self, card: AlertCard) -> str:
        return alert_text(card)

    def blocks(self, card: AlertCard) -> list[Block]:
        return alert_blocks(card)

    def reply(self, card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
        return reply_text(card, kind, detail)
