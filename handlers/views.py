"""Modal submissions. Validation answers with response_action; the charge runs after the ack."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.settlement import InvalidChoice, NotSettleable, Refused, SettlementService
from handlers import refs
from handlers.ids import Action, ViewId
from handlers.ids import Block as BlockId
from handlers.publisher import Publisher
from handlers.replies import dead_end_text, refusal_text
from handlers.settle_modal import confirm_view, info_view, processing_view

log = logging.getLogger(__name__)

EXPIRED = "This form is out of date. Close it and click *Settle balance* on the alert again."


def _selected(view: dict[str, Any], block: str, action: str) -> Any:
    return ((view.get("state") or {}).get("values") or {}).get(block, {}).get(action) or {}


def _end(ack: Ack, exc: Refused | NotSettleable) -> None:
    """Replace the form with why nothing happened; the modal then only closes."""
    text = refusal_text(exc) if isinstance(exc, Refused) else dead_end_text(exc)
    ack(response_action="update", view=info_view("Settle balance", text))


def pick_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    settle: SettlementService = context["settle"]
    user = body["user"]["id"]
    try:
        alert_id = refs.parse(view.get("private_metadata"), "alert")
    except refs.BadRef:
        ack(response_action="update", view=info_view("Settle balance", EXPIRED))
        return
    method_id = (_selected(view, BlockId.METHOD, Action.METHOD_CHOICE).get("selected_option") or {}).get("value")
    if not method_id:
        ack(response_action="errors", errors={BlockId.METHOD: "Pick a payment method."})
        return
    try:
        st = settle.choose(alert_id, user, str(method_id), view.get("id"))
    except InvalidChoice:
        ack(
            response_action="errors",
            errors={BlockId.METHOD: "That card is no longer on the account. Refresh and pick another."},
        )
        return
    except (Refused, NotSettleable) as exc:
        _end(ack, exc)
        return
    ack(response_action="update", view=confirm_view(st))


def confirm_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    settle: SettlementService = context["settle"]
    publisher: Publisher = context["publisher"]
    user = body["user"]["id"]
    try:
        sid = refs.parse(view.get("private_metadata"), "settlement")
    except refs.BadRef:
        ack(response_action="update", view=info_view("Settle balance", EXPIRED))
        return
    make_default = bool(_selected(view, BlockId.MAKE_DEFAULT, Action.MAKE_DEFAULT).get("selected_options"))
    try:
        result = settle.confirm(sid, user, view.get("id"), make_default)
    except (Refused, NotSettleable) as exc:
        _end(ack, exc)
        return
    if result.outcome == "busy":
        ack(
            response_action="update",
            view=info_view("Settle balance", dead_end_text(NotSettleable("busy", result.settlement))),
        )
        return
    if result.outcome == "duplicate":
        ack(response_action="update", view=publisher.view_for(result.settlement))
        return
    ack(response_action="update", view=processing_view(result.settlement))
    settle.charge(sid)  # after the ack; the outcome reaches the modal through the publisher


def register(app: App) -> None:
    app.view_submission(ViewId.PICK)(pick_submitted)
    app.view_submission(ViewId.CONFIRM)(confirm_submitted)
