"""/settle: list what the caller may settle, open one account's settle form, or explain itself.
Answered within Slack's 3 seconds: lists and answers are the ack itself; a form opens from the
command's trigger_id, the same modal as the alert's button."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.balances.access import Decision
from bot.domain.errors import Refused
from bot.i18n import _
from bot.settlement.service import SettlementService
from handlers.blocks.balance_list import SHOWN, balance_blocks, balances_text, help_blocks, which_one
from handlers.blocks.mrkdwn import code, safe
from handlers.listeners.actions import open_settle_modal
from handlers.support.errors import answering, ephemeral, refusal_text

log = logging.getLogger(__name__)

COMMAND = "/settle"
HELP_WORDS = {"help", "?", "-h", "--help"}


def settle_command(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    settle: SettlementService = context["settle"]
    user_id = str(context.user_id)
    query = " ".join(str(body.get("text") or "").split())[:200]
    if query.casefold() in HELP_WORDS:
        ack(text=_("How to use /settle"), blocks=help_blocks())
        return
    if not query:
        balances = settle.balances_for(user_id, limit=SHOWN)
        intro = balances_text(balances.count)
        ack(text=intro, blocks=balance_blocks(balances.cards, intro, balances.count) if balances.count else None)
        return
    found = settle.find_balances(user_id, query)
    if len(found.allowed) > 1:
        ack(
            text=_("Several accounts match {query}.").format(query=safe(query, 200)),
            blocks=which_one(query, list(found.allowed)),
        )
        return
    if found.allowed:
        ack()  # the form opens from the trigger_id, while it is fresh
        card = found.allowed[0]
        trigger = str(body.get("trigger_id") or "")
        open_settle_modal(context, client, user_id, trigger, card.alert_id, reply=lambda t: ephemeral(client, body, t))
        return
    if found.refused:
        card = found.refused[0]
        admins = settle.authorizer.for_alert(card.alert_id)
        decision = Decision(False, card.account_name, admins[2] if admins else ())
        ack(text=refusal_text(Refused(decision)))
        return
    if found.known_account is not None:
        ack(text=_("{name} has no open balance: nothing to settle.").format(name=safe(found.known_account, 200)))
        return
    ack(
        text=_("No account matches {query}. Type `/settle` for the balances you may settle, or `/settle help`.").format(
            query=code(query)
        )
    )


def register(app: App) -> None:
    app.command(COMMAND)(answering(settle_command))
