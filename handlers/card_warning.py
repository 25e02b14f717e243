"""Block Kit for a card warning before a renewal, and its Update card button: the button asks Settle
for a fresh link to the provider's add-card page (links expire; a warning lives for days)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from bot.money import format_money
from handlers.errors import answering, ephemeral
from handlers.ids import ActionId
from handlers.mrkdwn import MESSAGE_TEXT, SECTION, clip, safe
from storage.models import CardWarning

WHY = {
    "expires": "expires before then",
    "declined_before": "was declined before",
}


def warning_text(w: CardWarning, account_name: str) -> str:
    name = safe(account_name, 200)
    when = w.renews_on.strftime("%d %b %Y")
    if w.resolved_at is not None:
        return f"✅ {name} has a new default card for its renewal on {when}."
    return clip(
        f"⚠️ {name}'s renewal on {when} ({format_money(w.amount_minor, w.currency)}) will be charged to "
        f"{safe(w.card_label, 64)}, which {WHY.get(w.reason, 'may fail')}. Update the card before then.",
        MESSAGE_TEXT,
    )


def warning_blocks(w: CardWarning, account_name: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(warning_text(w, account_name), SECTION)))]
    if w.resolved_at is None:
        blocks.append(
            ActionsBlock(
                block_id="card_warning_actions",
                elements=[
                    ButtonElement(text="Update card", action_id=ActionId.UPDATE_CARD, value=str(w.id), style="primary")
                ],
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="Card numbers go to the payment provider's page only. This goes quiet once the account "
                        "has another default card."
                    )
                ]
            )
        )
    return blocks


class CardWarningMessage:
    def text(self, warning: CardWarning, account_name: str) -> str:
        return warning_text(warning, account_name)

    def blocks(self, warning: CardWarning, account_name: str) -> list[Any]:
        return warning_blocks(warning, account_name)


def update_card(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A fresh link to the provider's add-card page, for someone who may settle the account."""
    ack()
    raw = ((body.get("actions") or [{}])[0] or {}).get("value")
    warning_id = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None
    if warning_id is None:
        ephemeral(client, body, "That button is out of date.")
        return
    link = context["settle"].card_update_link(warning_id, str(context.user_id))
    if link is None:
        ephemeral(client, body, "This warning is over, or the provider has no page to add a card.")
        return
    ephemeral(
        client,
        body,
        f"Add the new card on the payment provider's page (the link works once, for a while): <{link}|Update card>",
    )


def register(app: App) -> None:
    app.action(ActionId.UPDATE_CARD)(answering(update_card))
