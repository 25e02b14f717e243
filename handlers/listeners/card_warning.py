"""Block Kit for a card warning before a renewal, and its Update card button: the button asks Settle
for a fresh link to the provider's add-card page (links expire; a warning lives for days)."""

from __future__ import annotations

from typing import Any

from babel.dates import format_date
from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.money import format_money
from bot.i18n import N_, _, number_locale, use
from handlers.blocks.mrkdwn import MESSAGE_TEXT, SECTION, clip, safe
from handlers.support.errors import answering, ephemeral
from handlers.support.ids import ActionId
from storage.models import CardWarning

MAY_FAIL = N_("may fail")
WHY = {
    "expires": N_("expires before then"),
    "declined_before": N_("was declined before"),
}


def warning_text(w: CardWarning, account_name: str) -> str:
    name = safe(account_name, 200)
    when = format_date(w.renews_on, "medium", locale=number_locale())
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


def warning_blocks(w: CardWarning, account_name: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(warning_text(w, account_name), SECTION)))]
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
    def text(self, warning: CardWarning, account_name: str, language: str = "en") -> str:
        with use(language):
            return warning_text(warning, account_name)

    def blocks(self, warning: CardWarning, account_name: str, language: str = "en") -> list[Any]:
        with use(language):
            return warning_blocks(warning, account_name)


def update_card(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A fresh link to the provider's add-card page, for someone who may settle the account."""
    ack()
    raw = ((body.get("actions") or [{}])[0] or {}).get("value")
    warning_id = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None
    if warning_id is None:
        ephemeral(client, body, _("That button is out of date."))
        return
    link = context["settle"].card_update_link(warning_id, str(context.user_id))
    if link is None:
        ephemeral(client, body, _("This warning is over, or the provider has no page to add a card."))
        return
    ephemeral(
        client,
        body,
        _(
            "Add the new card on the payment provider's page (the link works once, for a while): <{link}|{label}>"
        ).format(link=link, label=_("Update card")),
    )


def register(app: App) -> None:
    app.action(ActionId.UPDATE_CARD)(answering(update_card))
