"""Block Kit for lists of open balances (`/settle`, its help, its answers): pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from babel.dates import format_timedelta
from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.next_steps import HINTS, extra_step
from bot.domain.states import AlertState
from bot.i18n import N_, _, ngettext, number_locale
from bot.read.cards import AlertCard
from handlers.blocks.mrkdwn import SECTION, clip, code, safe, slack_date, user
from handlers.support.ids import ActionId

SHOWN = 15  # balances listed in one message (each is a block; a message holds 50)


def age(since: datetime, now: datetime | None = None) -> str:
    """ "3 days", "5 hours", "12 minutes": how long a balance has been open."""
    return duration(int(((now or datetime.now(UTC)) - since).total_seconds()))


def duration(seconds: int) -> str:
    """ "3 days", "5 hours", "drie dagen" is Babel's (CLDR's words and plurals for every language);
    counted in whole units, never rounded up (59 minutes are not "1 hour", 36 hours not "2 days")."""
    if seconds < 60:
        return _("just now")
    unit = next(u for u in (86400, 3600, 60) if seconds >= u)
    whole = timedelta(seconds=seconds // unit * unit)
    return format_timedelta(whole, threshold=1, granularity="minute", locale=number_locale())


def balance_line(card: AlertCard) -> str:
    """ "*Acme Corp* — €129.00 owed · 1 invoice · declined 3 days ago"."""
    n = len(card.open_invoices)
    invoices = ngettext("{n} invoice", "{n} invoices", n).format(n=n)
    since = age(card.opened_at or card.declined_at)
    state = ""
    if card.state == AlertState.VERIFICATION_PENDING:
        state = " · " + _("🔐 waiting for the bank ({who})").format(who=user(card.pending_by))
    elif card.state == AlertState.SETTLING:
        state = " · " + _("⏳ being settled by {who}").format(who=user(card.pending_by))
    line = _("*{name}* — {amount} owed · {invoices} · open for {since}").format(
        name=safe(card.account_name, 200), amount=card.owed, invoices=invoices, since=since
    )
    if card.awaiting:
        state += " · " + _("🖐 waiting for approval")
    elif card.retry_at:
        state += " · " + _("🔁 retry {when}").format(when=slack_date(card.retry_at))
    elif (step := extra_step(card.reason)) is not None and card.state == AlertState.OPEN:
        state += " · " + _("next: {step}").format(step=_(HINTS[step]))
    return line + state


def settle_button(card: AlertCard) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=_("Settle balance")), action_id=ActionId.SETTLE_OPEN, value=str(card.alert_id)
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
                elements=[
                    MarkdownTextObject(
                        text=_("…and {n} more. Type `/settle ACCOUNT` to go straight to one.").format(n=more)
                    )
                ]
            )
        )
    return blocks


def balances_text(n: int) -> str:
    if not n:
        return _("Nothing to settle: no open balance you may settle.")
    return ngettext("{n} open balance you may settle.", "{n} open balances you may settle.", n).format(n=n)


HELP = N_(
    "*/settle* — settle a declined subscription balance from Slack.\n"
    "• `/settle` lists the open balances you may settle, each with a *Settle balance* button.\n"
    "• `/settle ACCOUNT` opens the settle form for that account (its id or name; part of it will do).\n"
    "• `/settle digest off` (or `on`) stops (or starts) your morning list: working days at 09:00, your time.\n"
    "• `/settle help` shows this.\n"
    "Only an account's billing admins (and the admins Settle was given) may settle it."
)


def help_blocks() -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=_(HELP)))]


def which_one(query: str, cards: list[AlertCard]) -> list[Block]:
    intro = _("Several accounts match {query}. Which one?").format(query=code(query))
    return balance_blocks(cards, intro)
