"""Modal submissions. Validation answers with response_action; the charge runs after the ack.
Domain errors raised here become the modal's last step through handlers/errors.py."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain.errors import NotSettleable
from bot.i18n import _
from bot.read.model import BatchStatus
from bot.settlement.service import SettlementService
from handlers.blocks.settle_modal import MODAL_TITLE, confirm_view, info_view, outcome_view, processing_view
from handlers.support import refs
from handlers.support.errors import answering, reply_text
from handlers.support.ids import ActionId, BlockId, CallbackId

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
    settle: SettlementService = context["settle"]
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
    root = view.get("root_view_id") or view.get("id")
    batch = settle.choose(alert_id, str(context.user_id), str(method_id), invoices, root)
    # The confirmation goes on top of the choice (Back returns to it), unless the choice itself is
    # already on top of another view (after a decline): Slack's stack holds three views at most.
    action = "update" if view.get("previous_view_id") else "push"
    ack(response_action=action, view=confirm_view(batch))


def confirm_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    settle: SettlementService = context["settle"]
    view = body["view"]
    batch_id = refs.required(context, "batch")
    make_default = bool(_selected(view, BlockId.MAKE_DEFAULT, ActionId.MAKE_DEFAULT).get("selected_options"))
    root = view.get("root_view_id") or view.get("id")
    result = settle.confirm(batch_id, str(context.user_id), root, make_default, shown_in=view.get("id"))
    if result.outcome == "busy":
        ack(response_action="update", view=info_view(MODAL_TITLE, reply_text(NotSettleable("busy", result.batch))))
        return
    if result.outcome == "duplicate":
        batch = result.batch
        ack(response_action="update", view=outcome_view(batch, settle.next_step(batch)))
        if batch.status in (BatchStatus.CHARGING, BatchStatus.PENDING) and isinstance(view.get("id"), str):
            # This answer ("Charging…") may reach Slack after the outcome did: show the outcome again
            # once it is known, so a repeated submission never leaves the modal behind.
            context["background"].submit(settle.show_when_done, batch.id, view["id"])
        return
    ack(response_action="update", view=processing_view(result.batch))
    settle.charge(batch_id)  # after the ack; the outcome reaches the modal through the notifier


def register(app: App) -> None:
    app.view_submission(CallbackId.PICK)(answering(pick_submitted))
    app.view_submission(CallbackId.CONFIRM)(answering(confirm_submitted))
