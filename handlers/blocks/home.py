"""Settle's App Home tab: a pure function of a HomeSummary."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.money import format_money
from bot.domain.states import AlertState, SettlementStatus
from bot.i18n import N_, _, ngettext
from bot.read.cards import total
from bot.read.home import SHOWN, HomeSummary
from handlers.blocks.approval import approval_blocks
from handlers.blocks.balance_list import balance_line, settle_button
from handlers.blocks.mrkdwn import SECTION, clip, safe, slack_date, user


def _md(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION)))


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, 2000))])


def home_view(summary: HomeSummary) -> View:
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_("Settle: declined payments")))]
    if summary.every_account:
        rights = _("You may settle every account's balance (you are one of Settle's admins).")
    elif summary.count:
        rights = _("You may settle the balances of the accounts you are a billing admin of.")
    else:
        rights = _("You are not a billing admin of any account with an open balance.")
    if summary.others_open:
        others = ngettext(
            "{n} other open balance: not yours to settle.",
            "{n} other open balances: not yours to settle.",
            summary.others_open,
        )
        rights += " " + others.format(n=summary.others_open)
    blocks.append(_note(rights))

    blocks.append(DividerBlock())
    if summary.balances:
        owed = " · ".join(format_money(minor, currency) for currency, minor in summary.totals)
        n = summary.count
        blocks.append(_md(_("*Open balances you may settle: {n}* — {owed} owed").format(n=n, owed=owed)))
        for card in summary.balances:
            settling = card.state == AlertState.SETTLING
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(text=clip(balance_line(card), SECTION)),
                    accessory=None if settling else settle_button(card),
                )
            )
        if n > SHOWN:
            blocks.append(_note(_("…and {n} more: `/settle ACCOUNT` goes straight to one.").format(n=n - SHOWN)))
    else:
        blocks.append(_md(_("*Nothing to settle.* 🎉 Declined renewals you may settle will show up here.")))

    if summary.waiting:  # a second pair of eyes: Approve / Reject for everyone but the requester
        blocks.append(DividerBlock())
        blocks.append(_md(_("*Waiting for approval: {n}*").format(n=len(summary.waiting))))
        for request in summary.waiting:
            blocks += approval_blocks(request, buttons=request.requested_by != summary.user_id)

    waiting = [c for c in summary.balances if c.state == AlertState.VERIFICATION_PENDING]
    if waiting:
        blocks.append(DividerBlock())
        lines = [
            "• "
            + _("*{name}* — {amount}, {who}'s payment waits for the bank").format(
                name=safe(c.account_name, 200), amount=c.owed, who=user(c.pending_by)
            )
            for c in waiting[:SHOWN]
        ]
        blocks.append(_md(_("*Waiting for bank verification*") + "\n" + "\n".join(lines)))

    blocks.append(DividerBlock())
    if summary.recent:
        lines = []
        for batch in summary.recent:
            amount = total(batch.with_status(SettlementStatus.SUCCEEDED))
            when = slack_date(batch.settled_at) if batch.settled_at else ""
            line = _("*{name}* — {amount} with {card} by {who}").format(
                name=safe(batch.account_name, 200),
                amount=amount,
                card=safe(batch.card_label, 100),
                who=user(batch.user_id),
            )
            lines.append(f"• {line} {when}".rstrip())
        blocks.append(_md(_("*Settled lately*") + "\n" + "\n".join(lines)))
    else:
        blocks.append(_md(_("*Settled lately*") + "\n" + _("Nothing yet.")))
    blocks += _month_blocks(summary)
    blocks.append(_note(_("Type `/settle` in any channel for this list, or `/settle ACCOUNT` to settle one.")))
    return View(type="home", blocks=blocks)


PATH_WORDS = {
    "provider retry": N_("the billing system's own retries"),
    "saved card": N_("settled with a saved card"),
    "new card": N_("settled with a new card"),
    "after bank verification": N_("after the bank's verification"),
    "customer page": N_("by the customer on the page sent"),
    "scheduled retry": N_("by a scheduled retry"),
    "paid another way": N_("paid another way"),
}


def _month_blocks(summary: HomeSummary) -> list[Block]:
    """Where this month's money came back from, path by path, with the rate's formula under it."""
    report = summary.month
    if report is None or report.empty:
        return []
    lines = []
    for c in report.currencies:
        if not (c.recovered_all_minor or c.declined_minor):
            continue
        rate = f" ({c.recovery_rate:g}%)" if c.recovery_rate is not None else ""
        head = _("*{amount}* recovered of {declined} declined{rate}").format(
            amount=c.money(c.recovered_all_minor), declined=c.money(c.declined_minor), rate=rate
        )
        parts = [f"{_(PATH_WORDS[path])} {c.money(p.minor)}" for path, p in c.paths.items() if p.count]
        lines.append("• " + head + (": " + ", ".join(parts) if parts else ""))
    if not lines:
        return []
    formula = _("Recovery rate = recovered this month (every path) ÷ declined this month, by amount.")
    return [
        DividerBlock(),
        _md(clip(_("*This month so far*") + "\n" + "\n".join(lines), SECTION)),
        _note(formula),
    ]


class HomeView:
    """The HomeRenderer the Home publisher is given."""

    def view(self, summary: HomeSummary) -> View:
        return home_view(summary)
