"""Modal submissions. Validation answers with response_action; the charge runs after the ack.
Domain errors raised here become the modal's last step through the app's error handler."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.errors import NotSettleable
from bot.settlement import SettlementService
from handlers import refs
from handlers.errors import answering, reply_text
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.settle_modal import MODAL_TITLE, confirm_view, info_view, outcome_view, processing_view

log = logging.getLogger(__name__)


def _selected(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block_values = values.get(block) if isinstance(values, dict) else None
    chosen = block_values.get(action) if isinstance(block_values, dict) else None
    return chosen if isinstance(chosen, dict) else {}


def pick_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    settle: SettlementService = context["settle"]
    view = body["view"]
    alert_id = refs.required(context, "alert")
    option = _selected(view, BlockId.METHOD, ActionId.METHOD_CHOICE).get("selected_option")
    method_id = option.get("value") if isinstance(option, dict) else None
    if not isinstance(method_id, str) or not method_id:
        ack(response_action="errors", errors={BlockId.METHOD: "Pick a payment method."})
        return
    st = settle.choose(alert_id, str(context.user_id), method_id, view.get("id"))
    ack(response_action="update", view=confirm_view(st))


def confirm_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    settle: SettlementService = context["settle"]
    view = body["view"]
    sid = refs.required(context, "settlement")
    make_default = bool(_selected(view, BlockId.MAKE_DEFAULT, ActionId.MAKE_DEFAULT).get("selected_options"))
    result = settle.confirm(sid, str(context.user_id), view.get("id"), make_default)
    if result.outcome == "busy":
        ack(response_action="update", view=info_view(MODAL_TITLE, reply_text(NotSettleable("busy", result.settlement))))
        return
    if result.outcome == "duplicate":
        st = result.settlement
        ack(response_action="update", view=outcome_view(st, settle.next_step(st)))
        return
    ack(response_action="update", view=processing_view(result.settlement))
    settle.charge(sid)  # after the ack; the outcome reaches the modal through the notifier


def register(app: App) -> None:
    app.view_submission(CallbackId.PICK)(answering(pick_submitted))
    app.view_submission(CallbackId.CONFIRM)(answering(confirm_submitted))
