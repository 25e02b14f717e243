"""A card warning's Update card button: it asks Settle for a fresh link to the provider's add-card
page (links expire; a warning lives for days), for someone who may settle the account."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.i18n import _
from handlers.support.errors import answering, ephemeral
from handlers.support.ids import ActionId
from handlers.support.services import requester, services


def update_card(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A fresh link to the provider's add-card page, for someone who may settle the account."""
    ack()
    raw = ((body.get("actions") or [{}])[0] or {}).get("value")
    warning_id = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None
    if warning_id is None:
        ephemeral(client, body, _("That button is out of date."))
        return
    link = services(context).card_warnings.update_link(warning_id, requester(context))
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
