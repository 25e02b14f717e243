"""Approve / Reject on a request for a second pair of eyes (in the alert's thread, or on App Home).
Slack is answered first; the desk re-checks the clicker's rights, refuses the requester, decides once
and carries an approval out. The request's message and the alert update themselves."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import NotSettleable, Refused
from bot.i18n import N_, _
from bot.settlement.approving import Decision
from handlers.blocks.settle_modal import info_view
from handlers.listeners.follow_up import raw_action
from handlers.support import refs
from handlers.support.errors import after_ack, answering, ephemeral, reply_text
from handlers.support.ids import ActionId
from handlers.support.services import requester, services

ALREADY = {
    "approved": N_("Another admin approved this already: it is carried out once."),
    "rejected": N_("Another admin rejected this already: nothing was charged."),
    "expired": N_("This request expired: nothing was charged. The requester can ask again."),
}


def decided(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    svc = services(context)
    request_id = refs.required(context, "approval")
    decision: Decision = "approved" if raw_action(body).get("action_id") == ActionId.APPROVE else "rejected"
    who = requester(context)
    trigger = str(body.get("trigger_id") or "")

    def decide() -> None:
        try:
            result = svc.approvals.decide(request_id, who, decision)
        except (Refused, NotSettleable) as exc:
            _say(client, body, trigger, reply_text(exc))
            return
        if not result.won:
            # still "pending": another replica's sweep expired it at that very moment
            _say(client, body, trigger, _(ALREADY.get(result.status, ALREADY["expired"])))

    after_ack(ack, body, client, context, decide)


def _say(client: WebClient, body: dict[str, Any], trigger: str, text: str) -> None:
    """Ephemerally in the thread's channel; on App Home (no channel), in a small modal."""
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    if body.get("channel") or (container or {}).get("channel_id"):
        ephemeral(client, body, text)
        return
    with suppress(SlackApiError):  # the trigger ran out: App Home shows the request's state anyway
        client.views_open(trigger_id=trigger, view=info_view(_("Approval"), text))


def register(app: App) -> None:
    app.action(ActionId.APPROVE)(answering(decided))
    app.action(ActionId.REJECT)(answering(decided))
