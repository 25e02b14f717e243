"""The morning list an admin gets in a direct message: the balances they may settle or are assigned,
oldest and largest first, each with its Settle button."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject

from bot.delivery.morning import MorningSummary
from bot.domain.money import format_money
from bot.i18n import _, ngettext
from handlers.blocks.balance_list import balance_blocks
from handlers.blocks.mrkdwn import CONTEXT, MESSAGE_TEXT, clip


def morning_text(summary: MorningSummary) -> str:
    owed = " · ".join(format_money(minor, currency) for currency, minor in summary.totals)
    said = ngettext(
        "☀️ Good morning: {n} open balance to settle ({owed}).",
        "☀️ Good morning: {n} open balances to settle ({owed}).",
        summary.count,
    )
    return clip(said.format(n=summary.count, owed=owed), MESSAGE_TEXT)


def morning_blocks(summary: MorningSummary) -> list[Block]:
    blocks = balance_blocks(list(summary.cards), morning_text(summary), summary.count)
    if summary.assigned:
        note = _("Oldest and largest first, with those assigned to you. `/settle digest off` stops this list.")
    else:
        note = _("Oldest and largest first. `/settle digest off` stops this list.")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(note, CONTEXT))]))
    return blocks


class MorningMessage:
    """The renderer the morning lists are given (bot/delivery/morning.py)."""

    def text(self, summary: MorningSummary) -> str:
        return morning_text(summary)

    def blocks(self, summary: MorningSummary) -> list[Any]:
        return [b.to_dict() for b in morning_blocks(summary)]
