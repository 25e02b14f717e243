"""Block Kit for a card warning before a renewal: a pure function of its read-model record."""

from __future__ import annotations

from typing import Any

from babel.dates import format_date
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.money import format_money
from bot.i18n import N_, _, number_locale, use
from bot.read.warnings import WarningCard
from handlers.blocks.mrkdwn import MESSAGE_TEXT, SECTION, clip, safe
from handlers.support.ids import ActionId

MAY_FAIL = N_("may fail")
WHY = {
    "expires": N_("expires before then"),
    "declined_before": N_("was declined before"),
}


def warning_text(w: WarningCard) -> str:
    name = safe(w.account_name, 200)
    when = format_date(w.renews_on, "medium", locale=number_locale())
    if w.resolved_how == "declined":
        return _("The renewal on {when} was declined on {card}: {name}'s balance is in the alert now.").format(
            name=name, when=when, card=safe(w.card_label, 64)
        )
    if w.resolved_at is not None:
        return _("✅ {name} has a new default card for its renewal on {when}.").format(name=name, when=when)
    text = _(
        "⚠️ {name}'s renewal on {when} ({amount}) will be charged to {card}, which {why}. Update the card before then."
    ).format(
        name=name,
        when=when,
        amount=format_money(w.amount_minor, w.currency),
        card=safe(w.card_label, 64),
        why=_(WHY.get(w.reason, MAY_FAIL)),
    )
    return clip(text, MESSAGE_TEXT)


def warning_blocks(w: WarningCard) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(warning_text(w), SECTION)))]
    if w.resolved_at is None:
        blocks.append(
            ActionsBlock(
                block_id="card_warning_actions",
                elements=[
                    ButtonElement(
                        text=_("Update card"), action_id=ActionId.UPDATE_CARD, value=str(w.id), style="primary"
                    )
                ],
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=_(
                            "Card numbers go to the payment provider's page only. This goes quiet once the account "
                            "has another default card."
                        )
                    )
                ]
            )
        )
    return blocks


class CardWarningMessage:
    """The WarningRenderer card warnings are given: in the account's language."""

    def text(self, warning: WarningCard) -> str:
        with use(warning.language):
            return warning_text(warning)

    def blocks(self, warning: WarningCard) -> list[Any]:
        with use(warning.language):
            return warning_blocks(warning)
