"""/settle: list what the caller may settle, open one account's settle form, or explain itself. Slack
is answered at once (an empty ack); the answer follows through the command's response_url, only to
the person who typed it, and a form opens from the command's trigger_id, the same modal as the
alert's button."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain.errors import Decision, Refused
from bot.i18n import _
from bot.read.balances import find_balances, open_balances
from handlers.blocks.balance_list import SHOWN, balance_blocks, balances_text, help_blocks, which_one
from handlers.blocks.mrkdwn import code, safe
from handlers.listeners.actions import open_settle_modal
from handlers.support.errors import answering, ephemeral, refusal_text
from handlers.support.services import requester, services

log = logging.getLogger(__name__)

COMMAND = "/settle"
HELP_WORDS = {"help", "?", "-h", "--help"}


def settle_command(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    svc = services(context)
    who = requester(context)

    def respond(text: str, blocks: Any = None, response_type: str = "ephemeral") -> None:
        """Through the command's response_url (only to the person who typed it); a request that came
        without one gets the text ephemerally."""
        if context.response_url or body.get("response_url"):
            assert context.respond is not None
            context.respond(text=text, blocks=blocks, response_type=response_type)
        else:
            ephemeral(client, body, text)

    query = " ".join(str(body.get("text") or "").split())[:200]
    if query.casefold() in HELP_WORDS:
        respond(text=_("How to use /settle"), blocks=help_blocks(), response_type="ephemeral")
        return
    if query.casefold() == "digest":
        if svc.morning.enabled(who):
            said = _("☀️ Your morning list is on. `/settle digest off` stops it.")
        else:
            said = _("Your morning list is off. `/settle digest on` starts it again.")
        respond(text=said, response_type="ephemeral")
        return
    if query.casefold() in ("digest off", "digest on"):
        enabled = query.casefold().endswith("on")
        svc.morning.set_enabled(who, enabled)
        if enabled:
            said = _(
                "☀️ Your morning list is on: on working days at 09:00 your time, the balances you may settle "
                "(when there are any)."
            )
        else:
            said = _("Your morning list is off. `/settle digest on` starts it again.")
        respond(text=said, response_type="ephemeral")
        return
    scope, may = svc.access.scope(who.team_id), svc.access.may_settle(who)
    if not query:
        balances = open_balances(svc.sessions, scope, may, limit=SHOWN)
        intro = balances_text(balances.count)
        blocks = balance_blocks(balances.cards, intro, balances.count) if balances.count else None
        respond(text=intro, blocks=blocks, response_type="ephemeral")
        return
    found = find_balances(svc.sessions, scope, may, query)
    if len(found.allowed) > 1:
        respond(
            text=_("Several accounts match {query}.").format(query=safe(query, 200)),
            blocks=which_one(query, list(found.allowed)),
            response_type="ephemeral",
        )
        return
    if found.allowed:
        card = found.allowed[0]
        trigger = str(body.get("trigger_id") or "")
        open_settle_modal(context, client, who, trigger, card.alert_id, reply=lambda t: ephemeral(client, body, t))
        return
    if found.refused:
        card = found.refused[0]
        admins = svc.access.for_alert(card.alert_id, scope)
        decision = Decision(False, card.account_name, admins[2] if admins else ())
        respond(text=refusal_text(Refused(decision)), response_type="ephemeral")
        return
    if found.known_account is not None:
        text = _("{name} has no open balance: nothing to settle.").format(name=safe(found.known_account, 200))
        respond(text=text, response_type="ephemeral")
        return
    respond(
        text=_("No account matches {query}. Type `/settle` for the balances you may settle, or `/settle help`.").format(
            query=code(query)
        ),
        response_type="ephemeral",
    )


def register(app: App) -> None:
    app.command(COMMAND)(answering(settle_command))
