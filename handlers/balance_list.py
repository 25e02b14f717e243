"""Block Kit for lists of open balances (`/settle`, its help, its answers): pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.queries import AlertCard
from bot.states import AlertState
from handlers.ids import ActionId
from handlers.mrkdwn import SECTION, clip, code, safe, user

SHOWN = 15  # balances listed in one message (each is a block; a message holds 50)


def age(since: datetime, now: datetime | None = None) -> str:
    """ "3 days", "5 hours", "12 minutes": how long a balance has been open."""
    return duration(int(((now or datetime.now(UTC)) - since).total_seconds()))


def duration(seconds: int) -> str:
    seconds = max(0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "just now"


def balance_line(card: AlertCard) -> str:
    """ "*Acme Corp* — €129.00 owed · 1 invoice · declined 3 days ago"."""
    n = len(card.open_invoices)
    invoices = f"{n} invoice{'s' if n != 1 else ''}"
    since = age(card.opened_at or card.declined_at)
    state = ""
    if card.state == AlertState.VERIFICATION_PENDING:
        state = f" · 🔐 waiting for the bank ({user(card.pending_by)})"
    elif card.state == AlertState.SETTLING:
        state = f" · ⏳ being settled by {user(card.pending_by)}"
    return f"*{safe(card.account_name, 200)}* — {card.owed} owed · {invoices} · open for {since}{state}"


def settle_button(card: AlertCard) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text="Settle balance"), action_id=ActionId.SETTLE_OPEN, value=str(card.alert_id)
    )


def balance_blocks(cards: list[AlertCard], intro: str, count: int | None = None) -> list[Block]:
    """Up to SHOWN balances with their buttons; `count` is how many there are in all."""
    count = len(cards) if count is None else count
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(intro, SECTION)))]
    for card in cards[:SHOWN]:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=clip(balance_line(card), SECTION)),
                accessory=settle_button(card) if card.state != AlertState.SETTLING else None,
            )
        )
    if count > min(len(cards), SHOWN):
        more = count - min(len(cards), SHOWN)
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"…and {more} more. Type `/settle ACCOUNT` to go straight to one.")]
            )
        )
    return blocks


def balances_text(n: int) -> str:
    if not n:
        return "Nothing to settle: no open balance you may settle."
    return f"{n} open balance{'s' if n != 1 else ''} you may settle."


HELP = (
    "*/settle* — settle a declined subscription balance from Slack.\n"
    "• `/settle` lists the open balances you may settle, each with a *Settle balance* button.\n"
    "• `/settle ACCOUNT` opens the settle form for that account (its id or name; part of it will do).\n"
    "• `/settle help` shows this.\n"
    "Only an account's billing admins (and the admins Settle was given) may settle it."
)


def help_blocks() -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=HELP))]


def which_one(query: str, cards: list[AlertCard]) -> list[Block]:
    intro = f"Several accounts match {code(query)}. Which one?"
    return balance_blocks(cards, intro)
