"""A decline told to the customer, in a channel shared with them: in words meant for them, with the
provider's own pages to pay or to update the card, and nothing internal (bot/read/notices.py)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.states import AlertState
from bot.i18n import N_, _, use
from bot.read.cards import shown
from bot.read.notices import CustomerNotice
from handlers.blocks.mrkdwn import CONTEXT, MESSAGE_TEXT, SECTION, clip, safe
from handlers.support.ids import ActionId

SHOWN_INVOICES = 5
WHY = {
    "authenticate": N_(
        "your bank asks you to confirm the payment. Pay on the invoice page and confirm it with your bank."
    ),
    "funds": N_(
        "the bank declined it for now (funds or a limit on the card). You can pay on the invoice page, with this "
        "card or another."
    ),
    "hard": N_("the card can no longer be used. Add a new card: it is used for your renewals from then on."),
    "expired": N_("the card has expired. Add a new card: it is used for your renewals from then on."),
    "other": N_("your bank declined it. You can pay on the invoice page, with this card or another."),
}


def notice_text(notice: CustomerNotice) -> str:
    name = safe(notice.name, 200)
    if notice.state == AlertState.PAID:
        return _("✅ {name}, thank you: your renewal of {amount} is paid.").format(name=name, amount=shown(notice.paid))
    if notice.state == AlertState.CLOSED or not notice.owed:
        return _("{name}, nothing is owed for this renewal any more.").format(name=name)
    return _("{name}, your renewal of {amount} could not be charged: {why}").format(
        name=name, amount=shown(notice.owed), why=_(WHY[notice.kind])
    )


def notice_blocks(notice: CustomerNotice) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(notice_text(notice), SECTION)))]
    if notice.state in (AlertState.PAID, AlertState.CLOSED) or not notice.owed:
        return blocks
    buttons: list[ButtonElement] = []
    if notice.kind in ("hard", "expired") and notice.card_url:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=_("Add a new card")),
                action_id=f"{ActionId.CUSTOMER_PAGE}_card",
                url=notice.card_url,
                style="primary",
            )
        )
    several = len(notice.invoices) > 1
    for i, invoice in enumerate(notice.invoices[:SHOWN_INVOICES]):
        if not invoice.url:
            continue
        label = (
            _("Pay {amount}").format(amount=shown({invoice.currency: invoice.amount_minor}))
            if several
            else _("Pay invoice")
        )
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=clip(label, 75)),
                action_id=f"{ActionId.CUSTOMER_PAGE}_{i}",
                url=invoice.url,
                style=None if buttons else "primary",
            )
        )
    if buttons:
        blocks.append(ActionsBlock(block_id="customer_notice", elements=buttons))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=clip(
                        _("The pages are your billing provider's own; card numbers never pass through Slack."), CONTEXT
                    )
                )
            ]
        )
    )
    return blocks


class CustomerNoticeMessage:
    """The renderer delivery is given (bot/delivery/ports.py)."""

    def text(self, notice: CustomerNotice) -> str:
        with use(notice.language):
            return clip(notice_text(notice), MESSAGE_TEXT)

    def blocks(self, notice: CustomerNotice) -> list[Any]:
        with use(notice.language):
            return [b.to_dict() for b in notice_blocks(notice)]
