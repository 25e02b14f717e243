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
    StaticSelectElement,
    UserSelectElement,
)

from bot.domain.decline_reasons import explain, short
from bot.domain.next_steps import LABELS, extra_step
from bot.domain.slack_ids import USER
from bot.domain.states import ALERT_DONE, PAID_ANOTHER_WAY, AlertState, InvoiceState
from bot.i18n import N_, _, use
from bot.read.cards import AlertCard, Attempt, InvoiceLine, shown
from handlers.blocks.balance_list import duration
from handlers.blocks.mrkdwn import (
    CONTEXT,
    FIELD,
    HEADER,
    MESSAGE_TEXT,
    SECTION,
    channel,
    clip,
    code,
    safe,
    slack_date,
    user,
)
from handlers.support.ids import ActionId, BlockId
from handlers.support.refs import ASSIGN_BLOCK, encode

SHOWN_INVOICES = 10


def alert_text(card: AlertCard) -> str:
    """Notification and screen-reader fallback: the whole story in one line."""
    name = safe(card.account_name, 200)
    test = _("[Test mode] ") if card.test_mode else ""
    if card.state == AlertState.PAID:
        payers = {by for by, _with, _amount in card.paid_groups}
        cards = {with_ for _by, with_, _amount in card.paid_groups}
        if len(payers) == 1 and None not in payers and cards == {PAID_ANOTHER_WAY}:  # marked paid, no card
            return test + _("Settled: {name} paid {amount} another way (marked by {who}).").format(
                name=name, amount=card.amount, who=user(payers.pop())
            )
        if len(payers) == 1 and None not in payers:  # one admin paid it all through Settle
            return test + _("Settled by {who}: {name} paid {amount}.").format(
                name=name, amount=card.amount, who=user(payers.pop())
            )
        return test + _("Settled: {name} paid {amount}.").format(name=name, amount=card.amount)
    if card.state == AlertState.CLOSED:
        return test + _("Closed: nothing is owed by {name} any more ({how}).").format(name=name, how=_closed_how(card))
    if card.state == AlertState.VERIFICATION_PENDING:
        return _("{name} owes {amount}; a payment is waiting for bank verification.").format(
            name=name, amount=card.owed
        )
    if card.card_label:
        text = _("Payment declined: {name} owes {amount} on {card}.").format(
            name=name, amount=card.owed, card=safe(card.card_label, 100)
        )
    else:
        text = _("Payment declined: {name} owes {amount}.").format(name=name, amount=card.owed)
    return clip(f"{test}{text} {explain(card.reason).why}", MESSAGE_TEXT)


_CLOSED_WORDS = {
    InvoiceState.VOIDED: N_("voided"),
    InvoiceState.UNCOLLECTIBLE: N_("written off"),
    InvoiceState.PAID: N_("paid"),
}


def _closed_how(card: AlertCard) -> str:
    """ "1 voided, 1 paid": how the invoices of a closed balance ended."""
    counts = Counter(line.state for line in card.invoices)
    return ", ".join(f"{counts[state]} {_(word)}" for state, word in _CLOSED_WORDS.items() if counts[state])


def _header(card: AlertCard) -> str:
    test = _("🧪 Test mode · ") if card.test_mode else ""
    return test + _state_header(card).format(name=card.account_name)


def _state_header(card: AlertCard) -> str:
    if card.state == AlertState.CLOSED:
        return _("🗂️ Closed: {name}")
    if card.state == AlertState.PAID:
        return _("✅ Settled: {name}")
    if card.state == AlertState.VERIFICATION_PENDING:
        return _("🔐 Waiting for bank verification: {name}")
    if card.state == AlertState.SETTLING:
        return _("⏳ Being settled: {name}")
    return _("⚠️ Payment declined: {name}")


def invoice_line(line: InvoiceLine) -> str:
    """ "• `in_1` Business Standard — CHF 100.00 · declined 2 times", struck through once paid."""
    desc = f" {safe(line.description, 200)}" if line.description else ""
    if line.state == InvoiceState.PAID and line.paid_with == PAID_ANOTHER_WAY:  # marked paid from Slack
        marked = _("paid another way, marked by {who}").format(who=user(line.paid_by))
        return f"• ~{code(line.invoice_id)}{desc} — {line.amount}~ ✅ {marked}"
    if line.state == InvoiceState.PAID:
        by = " " + _("by {who}").format(who=user(line.paid_by)) if line.paid_by else ""
        with_ = " " + _("with {card}").format(card=safe(line.paid_with, 100)) if line.paid_with else ""
        return f"• ~{code(line.invoice_id)}{desc} — {line.amount}~ ✅ " + _("paid") + by + with_
    if line.state != InvoiceState.OPEN:
        how = _("{how} in the billing system").format(how=_(_CLOSED_WORDS[line.state]))
        return f"• ~{code(line.invoice_id)}{desc} — {line.amount}~ {how}"
    times = " · " + _("declined {n} times").format(n=line.decline_count) if line.decline_count > 1 else ""
    return f"• {code(line.invoice_id)}{desc} — *{line.amount}*{times}"


def invoice_list(lines: tuple[InvoiceLine, ...], limit: int = SHOWN_INVOICES) -> str:
    shown = [invoice_line(line) for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(_("…and {n} more").format(n=len(lines) - limit))
    return clip("\n".join(shown), SECTION)


def paid_how(card: AlertCard) -> str:
    """ "€178.00 paid by @ana with Visa ·· 4242", or each part when it was paid in parts: who paid what
    with which card (a part paid outside Settle, by the customer or the provider's retry, names no one)."""
    parts = []
    for by, with_, amount in card.paid_groups:
        part = amount
        if with_ == PAID_ANOTHER_WAY:  # marked paid from Slack: a transfer, a cheque
            part += " " + _("another way, marked by {who}").format(who=user(by))
            parts.append(part)
            continue
        if by:
            part += " " + _("by {who}").format(who=user(by))
        else:  # the customer, or the provider's own retry: no one in Slack
            part += " " + _("outside Settle")
        if with_:
            part += " " + _("with {card}").format(card=safe(with_, 100))
        parts.append(part)
    return "; ".join(parts) or card.amount


def alert_blocks(card: AlertCard) -> list[Block]:
    if card.state in ALERT_DONE:
        return _done_blocks(card)
    reason = explain(card.reason)
    declined = safe(card.card_label, 100) if card.card_label else _("the default payment method")
    count = len(card.invoices)
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.ALERT_HEADER, text=PlainTextObject(text=clip(_header(card), HEADER), emoji=True)),
        SectionBlock(
            block_id=BlockId.ALERT_FACTS,
            fields=[
                MarkdownTextObject(text="*" + _("Owed") + f"*\n{card.amount}"),
                MarkdownTextObject(text="*" + _("Account") + f"*\n{safe(card.account_name, FIELD - 20)}"),
                MarkdownTextObject(text="*" + _("Declined card") + f"*\n{declined}"),
                MarkdownTextObject(
                    text=_("*Invoices*\n{n} declined").format(n=count) if count != 1 else _("*Invoice*\n1 declined")
                ),
            ],
        ),
        SectionBlock(block_id=BlockId.ALERT_INVOICES, text=MarkdownTextObject(text=invoice_list(card.invoices))),
    ]
    attempt = card.last_attempt
    why = _("*Why the renewal was declined:*") if attempt else _("*Why:*")
    lines = [f"{why} {reason.why}", _("*Next:* {step}").format(step=reason.next_step)]
    if card.bank_message:
        lines.insert(1, _("*The bank said:* “{message}”").format(message=safe(card.bank_message, 300)))
    if attempt:
        note = attempt_text(attempt)
        if attempt.by:
            lines.insert(0, _("*Last attempt:* {who}'s {note}").format(who=user(attempt.by), note=note))
        else:
            lines.insert(0, _("*Last attempt:* {note}").format(note=note))
    if card.state == AlertState.SETTLING:
        lines.insert(0, _("*{who} is settling this balance now.*").format(who=user(card.pending_by)))
    if card.state == AlertState.VERIFICATION_PENDING:
        if card.pending_by:
            waiting = _("*Bank verification pending:* {who}'s payment is waiting for the bank's approval.")
            lines.insert(0, waiting.format(who=user(card.pending_by)))
        else:
            lines.insert(0, _("*Bank verification pending:* a payment is waiting for the bank's approval."))
    lines += next_step_lines(card) + follow_up_lines(card)
    blocks.append(
        SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=clip("\n".join(lines), SECTION)))
    )
    buttons: list[ButtonElement | OverflowMenuElement | StaticSelectElement] = []
    if card.state in (AlertState.OPEN, AlertState.VERIFICATION_PENDING):
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=_("Settle balance")),
                action_id=ActionId.SETTLE_OPEN,
                value=str(card.alert_id),
                style="primary",
            )
        )
    step = extra_step(card.reason)
    if card.retry_at:  # one retry at a time: until it runs, it may be cancelled
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=_("Cancel retry")),
                action_id=ActionId.NEXT_STEP,
                value=encode("alert", card.alert_id, "cancel_retry"),
            )
        )
    elif step is not None and card.state in (AlertState.OPEN, AlertState.VERIFICATION_PENDING):
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=_(LABELS[step])),
                action_id=ActionId.NEXT_STEP,
                value=encode("alert", card.alert_id, step),
            )
        )
    if card.invoice_url:
        label = _("View invoice") if len(card.open_invoices or card.invoices) == 1 else _("View first invoice")
        buttons.append(
            ButtonElement(text=PlainTextObject(text=label), action_id=ActionId.VIEW_INVOICE, url=card.invoice_url)
        )
    if card.state not in ALERT_DONE:
        buttons.append(alert_menu(card))
        buttons.append(end_menu(card))
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.ALERT_ACTIONS, elements=buttons))
    if card.state not in ALERT_DONE:
        picker = UserSelectElement(
            placeholder=PlainTextObject(text=_("Assign to…") if not card.assignee else _("Reassign to…")),
            action_id=ActionId.ASSIGN,
            initial_user=card.assignee if card.assignee and USER.match(card.assignee) else None,
        )
        blocks.append(ActionsBlock(block_id=f"{ASSIGN_BLOCK}{card.alert_id}", elements=[picker]))

    footer = _("Last declined {when}").format(when=slack_date(card.last_declined_at))
    if card.attempt and card.last_declined_at == card.declined_at:  # the provider's count, of its own tries
        footer += " " + _("(attempt {n})").format(n=card.attempt)
    if card.decline_count > 1:
        footer += " · " + _("{n} declines so far").format(n=card.decline_count)
    if card.retries_known and card.state not in ALERT_DONE:
        footer += " · " + (
            _("next automatic retry {when}").format(when=slack_date(card.next_attempt_at))
            if card.next_attempt_at
            else _("no automatic retry left")
        )
    if card.test_mode:
        footer += " · " + _("test mode: no real money")
    if card.intended_channel:
        footer += " · " + _("posted here because {channel} could not be reached").format(
            channel=channel(card.intended_channel)
        )
    blocks += [
        DividerBlock(),
        ContextBlock(block_id=BlockId.ALERT_FOOTER, elements=[MarkdownTextObject(text=clip(footer, CONTEXT))]),
    ]
    return blocks


def _done_blocks(card: AlertCard) -> list[Block]:
    """A settled or closed balance, collapsed to what a reader needs: who, what, when, how. The decline
    that opened it is history; the invoices stay, each with how it ended."""
    if card.state == AlertState.PAID:
        story = _("*{name}* paid {how}, {when}.").format(
            name=safe(card.account_name, 200), how=paid_how(card), when=slack_date(card.paid_at or card.declined_at)
        )
    else:
        story = _("*Nothing is owed any more:* {how}. Nobody needs to settle this balance.").format(
            how=_closed_how(card)
        )
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.ALERT_HEADER, text=PlainTextObject(text=clip(_header(card), HEADER), emoji=True)),
        SectionBlock(block_id=BlockId.ALERT_REASON, text=MarkdownTextObject(text=clip(story, SECTION))),
        SectionBlock(block_id=BlockId.ALERT_INVOICES, text=MarkdownTextObject(text=invoice_list(card.invoices))),
    ]
    if card.invoice_url:
        label = _("View invoice") if len(card.invoices) == 1 else _("View first invoice")
        button = ButtonElement(text=PlainTextObject(text=label), action_id=ActionId.VIEW_INVOICE, url=card.invoice_url)
        blocks.append(ActionsBlock(block_id=BlockId.ALERT_ACTIONS, elements=[button]))
    opened = card.opened_at or card.declined_at
    footer = _("Declined {when}").format(when=slack_date(opened))
    if card.decline_count > 1:
        footer += " · " + _("{n} declines").format(n=card.decline_count)
    if card.test_mode:
        footer += " · " + _("test mode: no real money")
    blocks.append(
        ContextBlock(block_id=BlockId.ALERT_FOOTER, elements=[MarkdownTextObject(text=clip(footer, CONTEXT))])
    )
    return blocks


ASKED = {
    "pay": N_("📨 *Payment page sent* to the customer by {who}, {when}."),
    "card": N_("📨 *Asked the customer for a new card:* {who}, {when}."),
}


def next_step_lines(card: AlertCard) -> list[str]:
    """What was done about the reason: the customer asked, a retry scheduled."""
    lines = []
    if card.asked_customer in ASKED and card.asked_at:
        lines.append(_(ASKED[card.asked_customer]).format(who=user(card.asked_by), when=slack_date(card.asked_at)))
    if card.retry_at:
        lines.append(
            _("🔁 *Retry scheduled* by {who} for {when} with {card}.").format(
                who=user(card.retry_by), when=slack_date(card.retry_at), card=safe(card.retry_card or "", 100)
            )
        )
    if card.customer_channel and card.customer_told_at:
        lines.append(
            _("📣 *Customer told* in {channel}, {when}: in words meant for them, with the payment page.").format(
                channel=channel(card.customer_channel), when=slack_date(card.customer_told_at)
            )
        )
    elif card.customer_channel:
        lines.append(
            _("⚠️ *The customer was not told* in {channel}: Settle is not in that channel. Invite it there.").format(
                channel=channel(card.customer_channel)
            )
        )
    for waiting in card.awaiting[:3]:
        lines.append(
            _(AWAITING.get(waiting.kind, AWAITING["settle"])).format(
                who=user(waiting.requested_by), amount=waiting.amount, when=slack_date(waiting.expires_at)
            )
        )
    return lines


AWAITING = {
    "settle": N_(
        "🖐 *Waiting for approval:* {who} asked to charge {amount}; another admin decides in the thread by {when}."
    ),
    "retry": N_(
        "🖐 *Waiting for approval:* {who} asked to retry {amount} on a date; another admin decides in the thread "
        "by {when}."
    ),
    "paid": N_(
        "🖐 *Waiting for approval:* {who} asked to mark {amount} paid another way; another admin decides in the "
        "thread by {when}."
    ),
}


def follow_up_lines(card: AlertCard, now: datetime | None = None) -> list[str]:
    """Who the balance is assigned to, and whether it is snoozed (reminders wait until then)."""
    lines = []
    if card.assignee:
        if card.assigned_by and card.assigned_by != card.assignee:
            line = _("*Assigned to* {who} by {by}.").format(who=user(card.assignee), by=user(card.assigned_by))
        else:
            line = _("*Assigned to* {who}.").format(who=user(card.assignee))
        lines.append(line)
    if card.snoozed_until and card.snoozed_until > (now or datetime.now(UTC)):
        lines.append(
            _("💤 *Snoozed* by {who} until {when}: no reminders until then.").format(
                who=user(card.snoozed_by), when=slack_date(card.snoozed_until)
            )
        )
    return lines


def alert_menu(card: AlertCard) -> OverflowMenuElement:
    options = [
        Option(text=PlainTextObject(text=_("Snooze 1 day")), value=encode("alert", card.alert_id, "snooze_1d")),
        Option(text=PlainTextObject(text=_("Snooze 3 days")), value=encode("alert", card.alert_id, "snooze_3d")),
        Option(
            text=PlainTextObject(text=_("Snooze until a date…")), value=encode("alert", card.alert_id, "snooze_date")
        ),
    ]
    if card.snoozed_until:
        options.append(
            Option(text=PlainTextObject(text=_("Stop snoozing")), value=encode("alert", card.alert_id, "wake"))
        )
    if card.assignee:
        options.append(
            Option(text=PlainTextObject(text=_("Unassign")), value=encode("alert", card.alert_id, "unassign"))
        )
    return OverflowMenuElement(action_id=ActionId.ALERT_MENU, options=options)


ENDINGS = (("paid", N_("Paid another way…")), ("voided", N_("Void…")), ("uncollectible", N_("Write off…")))


def end_menu(card: AlertCard) -> StaticSelectElement:
    """The other ways a balance ends: each opens a confirmation that asks for the reason."""
    return StaticSelectElement(
        action_id=ActionId.END_BALANCE,
        placeholder=PlainTextObject(text=_("End another way…")),
        options=[
            Option(text=PlainTextObject(text=_(label)), value=encode("alert", card.alert_id, how))
            for how, label in ENDINGS
        ],
    )


def attempt_text(attempt: Attempt) -> str:
    """The last settlement attempt's outcome, told in the reader's language."""
    card = safe(attempt.card or "", 100)
    if attempt.kind == "unverified":
        return _("payment with {card} was never verified with the bank.").format(card=card)
    return _("payment with {card} did not go through: {why}.").format(card=card, why=short(attempt.reason))


def reply_text(card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
    """The thread replies under an alert: a later decline, a balance that grew, a settlement. In a
    digest's thread (`in_digest`) they say whose balance they are about."""
    said = _reply_text(card, kind, detail)
    if detail.get("in_digest"):
        return clip(f"*{safe(card.account_name, 200)}* · {said}", MESSAGE_TEXT)
    return said


def _reply_text(card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
    invoice = code(str(detail.get("invoice_id", "")))
    line = next((i for i in card.invoices if i.invoice_id == detail.get("invoice_id")), None)
    amount = f" ({line.amount})" if line else ""
    if kind == "balance_grew":
        return _("⚠️ Another renewal was declined: invoice {invoice}{amount}. The balance is now *{owed}*.").format(
            invoice=invoice, amount=amount, owed=card.owed
        )
    if kind == "declined_again":
        return _("⚠️ Invoice {invoice}{amount} was declined again: {why}").format(
            invoice=invoice, amount=amount, why=explain(card.reason).why
        )
    if kind in ("reminder", "escalated", "escalated_elsewhere"):
        return _follow_up(card, kind, detail)
    if kind == "assigned":
        text = _("👤 {assignee}, {who} assigned this balance of *{owed}* to you: settle, snooze or reassign it here.")
        return clip(
            text.format(
                assignee=user(str(detail.get("assignee") or "")), who=user(str(detail.get("by") or "")), owed=card.owed
            ),
            MESSAGE_TEXT,
        )
    if kind == "ended":
        minor = detail.get("minor")
        facts = {
            "who": user(str(detail.get("by") or "")),
            "amount": shown(minor) if isinstance(minor, dict) else "",
            "invoices": ", ".join(code(str(i)) for i in detail.get("invoices") or []),
            "reason": safe(str(detail.get("reason") or ""), 500),
        }
        how = detail.get("how")
        if how == "paid":
            text = _("🧾 {who} marked {amount} paid another way ({invoices}): “{reason}”")
        elif how == "voided":
            text = _("🗑️ {who} voided {amount} ({invoices}): “{reason}”")
        else:
            text = _("📉 {who} wrote off {amount} as uncollectible ({invoices}): “{reason}”")
        return clip(text.format(**facts), MESSAGE_TEXT)
    if kind in ("asked", "retry_scheduled", "retry_cancelled", "retry_done"):
        return _next_step_reply(kind, detail)
    if kind in APPROVAL_REPLIES:  # the requester is named: they hear of it
        return clip(
            _(APPROVAL_REPLIES[kind]).format(
                requester=user(str(detail.get("requester") or "")), who=user(str(detail.get("by") or ""))
            ),
            MESSAGE_TEXT,
        )
    if kind == "settled":
        invoices = ", ".join(code(str(i)) for i in detail.get("invoices") or [])
        paid, owed = detail.get("paid_minor"), detail.get("owed_minor")
        facts = {
            "who": user(str(detail.get("user_id") or "")),
            # in the reader's language (rows from before this kept the clicker's formatted text)
            "amount": shown(paid) if isinstance(paid, dict) else safe(str(detail.get("amount") or ""), 100),
            "card": safe(str(detail.get("card") or ""), 100),
            "invoices": invoices,
        }
        still = shown(owed) if isinstance(owed, dict) and owed else detail.get("still_owed")
        if still:  # a part of the balance: it is not settled yet
            text = _("💳 Partly paid by {who}: {amount} charged to {card} ({invoices}).").format(**facts)
            text += " " + _("Still owed: *{owed}*.").format(owed=safe(str(still), 100))
        else:
            text = _("✅ Settled by {who}: {amount} charged to {card} ({invoices}).").format(**facts)
        return clip(text, MESSAGE_TEXT)
    return clip(_("Update on this balance: {kind}.").format(kind=safe(kind, 50)), MESSAGE_TEXT)


APPROVAL_REPLIES = {
    "approval_approved": N_("👍 {requester}, {who} approved your request: Settle is carrying it out."),
    "approval_rejected": N_("👎 {requester}, {who} rejected your request: nothing was charged."),
    "approval_expired": N_("⌛ {requester}, your request expired without a decision: nothing was charged."),
}

RETRY_OUTCOMES = {
    "verification": N_("🔁 The scheduled retry needs the cardholder's bank verification: nobody was there to give it."),
    "unknown": N_("🔁 The scheduled retry was sent; the billing system's answer is not in yet."),
    "not_allowed": N_("🔁 The scheduled retry did not run: {who} may no longer settle this balance."),
    "balance_over": N_("🔁 The scheduled retry did not run: nothing is owed any more."),
    "busy": N_("🔁 The scheduled retry did not run: the balance was being settled at that moment."),
    "card_unusable": N_("🔁 The scheduled retry did not run: the card can no longer be charged."),
    "provider": N_("🔁 The scheduled retry did not run: the billing system did not answer."),
}


def _next_step_reply(kind: str, detail: dict[str, Any]) -> str:
    who = user(str(detail.get("by") or ""))
    if kind == "asked":
        if detail.get("ask") == "card":
            return _("📨 {who} asked the customer for a new card (the add-card page was sent).").format(who=who)
        return _("📨 {who} sent the customer the payment page.").format(who=who)
    when = _when(detail.get("due"))
    if kind == "retry_scheduled":
        text = _("🔁 {who} scheduled a retry for {when} with {card}.")
        return clip(text.format(who=who, when=when, card=safe(str(detail.get("card") or ""), 100)), MESSAGE_TEXT)
    if kind == "retry_cancelled":
        return _("🔁 {who} cancelled the retry of {when}.").format(who=who, when=when)
    outcome = str(detail.get("outcome") or "")
    if outcome.startswith("declined:"):
        text = _("🔁 The scheduled retry with {card} was declined: {why}.")
        return clip(text.format(card=safe(str(detail.get("card") or ""), 100), why=short(outcome[9:])), MESSAGE_TEXT)
    return _(RETRY_OUTCOMES.get(outcome, RETRY_OUTCOMES["unknown"])).format(who=who)


def _when(raw: Any) -> str:
    try:
        return slack_date(datetime.fromisoformat(str(raw)))
    except ValueError:
        return ""


def _follow_up(card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
    who = " ".join(user(str(m)) for m in detail.get("mention") or [] if m)
    open_for = duration(int(detail.get("open_for") or 0))
    name = safe(card.account_name, 200)
    if kind == "reminder":
        ask = _("{who}, can you settle it?").format(who=who) if who else _("Can an admin settle it?")
        text = _(
            "⏰ Reminder: this balance of *{owed}* has been open for {open_for}. {ask} "
            "(Snooze or assign it from the alert's menu.)"
        ).format(owed=card.owed, open_for=open_for, ask=ask)
        return clip(text, MESSAGE_TEXT)
    if kind == "escalated":
        text = _("🚨 Escalated: open for {open_for}, *{owed}* still owed.").format(open_for=open_for, owed=card.owed)
        return clip(f"{text} {who}".rstrip(), MESSAGE_TEXT)
    where = channel(str(detail.get("alert_channel") or "")) if detail.get("alert_channel") else _("its channel")
    if card.state == AlertState.PAID:  # the escalation, edited once the balance ended: no one is pinged again
        return clip(
            _("✅ *{name}* has paid *{amount}*: the escalated balance is settled (see {where}).").format(
                name=name, amount=card.amount, where=where
            ),
            MESSAGE_TEXT,
        )
    if card.state == AlertState.CLOSED:
        return clip(
            _("🗂️ *{name}* owes nothing any more: the escalated balance is closed (see {where}).").format(
                name=name, where=where
            ),
            MESSAGE_TEXT,
        )
    text = _("🚨 *{name}* still owes *{owed}*, open for {open_for} and not settled: see the alert in {where}.").format(
        name=name, owed=card.owed, open_for=open_for, where=where
    )
    return clip(f"{text} {who}".rstrip(), MESSAGE_TEXT)


class AlertMessage:
    """The AlertRenderer the deliverer is given."""

    def text(self, card: AlertCard) -> str:
        with use(card.language):
            return alert_text(card)

    def blocks(self, card: AlertCard) -> list[Block]:
        with use(card.language):
            return alert_blocks(card)

    def reply(self, card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
        with use(card.language):
            return reply_text(card, kind, detail)
