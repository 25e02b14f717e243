"""Modal submissions. Nothing but reading the submission comes before the answer to Slack: a field
error when the submission itself is incomplete, else a view that says it is being done (with an
external_id), which the work that follows replaces. Domain errors raised after the answer replace it
through handlers/support/errors.py."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain.errors import InvalidChoice, NotSettleable, ProviderUnavailable, Refused
from bot.i18n import _
from handlers.blocks.settle_modal import (
    MODAL_TITLE,
    charging_view,
    checking_view,
    confirm_view,
    info_view,
    processing_view,
)
from handlers.support import refs
from handlers.support.errors import after_ack, answering, replace_view, reply_text
from handlers.support.ids import ActionId, BlockId, CallbackId
from handlers.support.refs import BadRef
from handlers.support.services import requester, services

log = logging.getLogger(__name__)


def _selected(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block_values = values.get(block) if isinstance(values, dict) else None
    chosen = block_values.get(action) if isinstance(block_values, dict) else None
    return chosen if isinstance(chosen, dict) else {}


def _chosen_invoices(view: dict[str, Any]) -> list[str] | None:
    """The ticked invoices; None when the modal offered no choice (a balance of one invoice)."""
    blocks = view.get("blocks")
    offered = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("block_id") == BlockId.INVOICES for b in blocks
    )
    if not offered:
        return None
    options = _selected(view, BlockId.INVOICES, ActionId.INVOICE_CHOICE).get("selected_options")
    if not isinstance(options, list):
        return []
    return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]


def pick_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    svc = services(context)
    view = body["view"]
    alert_id = refs.required(context, "alert")
    option = _selected(view, BlockId.METHOD, ActionId.METHOD_CHOICE).get("selected_option")
    method_id = option.get("value") if isinstance(option, dict) else None
    invoices = _chosen_invoices(view)
    errors: dict[str, str] = {}
    if not isinstance(method_id, str) or not method_id:
        errors[BlockId.METHOD] = _("Pick a payment method.")
    if invoices == []:
        errors[BlockId.INVOICES] = _("Tick at least one invoice to pay.")
    if errors:
        ack(response_action="errors", errors=errors)
        return
    # The confirmation goes on top of the choice (Back returns to it), unless the choice itself is
    # already on top of another view (after a decline): Slack's stack holds three views at most.
    external_id = svc.modals.new_external_id()
    ack(response_action="update" if view.get("previous_view_id") else "push", view=checking_view(external_id))
    context["shown"] = external_id  # an error from here on replaces this view
    who = requester(context)
    root = view.get("root_view_id") or view.get("id")

    def choose() -> None:
        try:
            batch = svc.batches.choose(alert_id, who, str(method_id), invoices)
        except InvalidChoice:
            text = _("That card is no longer on the account. Go back, refresh the cards and pick another.")
            replace_view(client, external_id, info_view(MODAL_TITLE, text))
            return
        except (Refused, NotSettleable, ProviderUnavailable, BadRef) as exc:
            replace_view(client, external_id, info_view(MODAL_TITLE, reply_text(exc)))
            return
        except Exception as exc:  # the pushed view says so; the choice below it stays as it was
            log.exception("card choice for alert %s failed", alert_id)
            replace_view(client, external_id, info_view(MODAL_TITLE, reply_text(exc)))
            return
        svc.modals.chosen(batch.id, root, who)
        replace_view(client, external_id, confirm_view(batch))

    after_ack(ack, body, client, context, choose)


def confirm_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    svc = services(context)
    view = body["view"]
    batch_id = refs.required(context, "batch")
    make_default = bool(_selected(view, BlockId.MAKE_DEFAULT, ActionId.MAKE_DEFAULT).get("selected_options"))
    view_id = view.get("id") if isinstance(view.get("id"), str) else None
    external_id = svc.modals.new_external_id(view_id)
    ack(response_action="update", view=charging_view(external_id))  # at once, however many arrive
    context["shown"] = external_id  # an error from here on replaces this view
    who = requester(context)
    root = view.get("root_view_id") or view.get("id")

    def confirm() -> None:
        same = svc.modals.same_session(batch_id, root)
        result = svc.batches.confirm(batch_id, who, make_default, same_session=same)
        if result.outcome == "approval":
            waiting = _(
                "🖐 Sent for approval: {amount} is above the amount another admin approves. Nothing is charged "
                "until one of them approves it in the alert's thread or on App Home; you will hear there."
            )
            replace_view(client, external_id, info_view(MODAL_TITLE, waiting.format(amount=result.batch.amount)))
            return
        if result.outcome == "busy":
            busy = info_view(MODAL_TITLE, reply_text(NotSettleable("busy", by=result.batch.user_id)))
            replace_view(client, external_id, busy)
            return
        # this modal shows the confirmation's outcome when it is known (now, for a repeated submission)
        owner = result.outcome == "claimed"
        svc.modals.follow(result.batch, who, view_id=view_id, external_id=external_id, owner=owner)
        if result.outcome == "duplicate":
            return
        replace_view(client, external_id, processing_view(result.batch))
        svc.charger.charge(batch_id)  # the outcome reaches the modal through the tracker

    after_ack(ack, body, client, context, confirm)


def register(app: App) -> None:
    app.view_submission(CallbackId.PICK)(answering(pick_submitted))
    app.view_submission(CallbackId.CONFIRM)(answering(confirm_submitted))
