"""Button clicks on alerts and in the settle modal. Each acks first, then works."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.authz import CLICK_CACHE_SECONDS
from bot.settlement import NotSettleable, Refused, SettlementService
from handlers import refs
from handlers.ids import Action, ViewId
from handlers.priority import OpenGate
from handlers.publisher import Publisher
from handlers.replies import dead_end_text, ephemeral, refusal_text
from handlers.settle_modal import info_view, loading_view, pick_view, verify_view

log = logging.getLogger(__name__)


def ack_link(ack: Ack) -> None:
    """Link buttons still send an action; acking keeps Slack from showing an error icon."""
    ack()


def _value(body: dict[str, Any]) -> Any:
    actions = body.get("actions") or [{}]
    return actions[0].get("value")


def open_settle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    gate: OpenGate = context["open_gate"]
    with gate.opening():
        opened = _open_loading(body, client, context)
    if opened is not None:
        # Filling the form (provider reads, views.update, audit) runs on its own small pool and waits
        # for other clicks' views.open first: their trigger_ids are about to expire.
        alert_id, view_id = opened
        context["background"].submit(_fill_when_quiet, context, alert_id, body["user"]["id"], view_id)


def _open_loading(body: dict[str, Any], client: WebClient, context: BoltContext) -> tuple[int, str] | None:
    """Authorise the click and open the loading view; (alert id, view id), or None after a reply."""
    settle: SettlementService = context["settle"]
    user = body["user"]["id"]
    try:
        alert_id = refs.parse(_value(body), "alert")
        # may reuse a check from the last few seconds: the form filled next is checked afresh
        settle.authorize(user, alert_id, max_age=CLICK_CACHE_SECONDS)
    except refs.BadRef:
        log.warning("settle click with a bad value from %s", user)
        return None
    except Refused as exc:
        ephemeral(client, body, refusal_text(exc))
        return None
    except NotSettleable as exc:
        ephemeral(client, body, dead_end_text(exc))
        return None
    try:
        opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view())
    except SlackApiError as exc:
        log.warning("views.open failed for alert %s: %s", alert_id, exc.response.get("error"))
        ephemeral(client, body, "Slack could not open the settle form in time. Please click *Settle balance* again.")
        return None
    return alert_id, str(opened["view"]["id"])


def _fill_when_quiet(context: BoltContext, alert_id: int, user: str, view_id: str) -> None:
    context["open_gate"].wait_quiet()
    show_settle_form(context, alert_id, user, view_id)


def show_settle_form(
    context: BoltContext, alert_id: int, user: str, view_id: str, view_hash: str | None = None
) -> None:
    settle: SettlementService = context["settle"]
    client: WebClient = context["services"].web
    ctx = None
    try:
        ctx = settle.context(alert_id, user, view_id)
        flight = ctx.in_flight
        if flight and flight.status == "requires_action" and flight.user_id == user:
            view = verify_view(flight)
        elif flight:
            view = info_view(
                "Settle balance", f"<@{flight.user_id}> is already settling this invoice with {flight.card_label}."
            )
        else:
            view = pick_view(ctx)
    except Refused as exc:
        view = info_view("Settle balance", refusal_text(exc))
    except NotSettleable as exc:
        view = info_view("Settle balance", dead_end_text(exc))
    try:
        client.views_update(view_id=view_id, view=view, hash=view_hash)
    except SlackApiError as exc:
        log.info("settle form %s not shown: %s", view_id, exc.response.get("error"))
    else:
        if ctx is not None and view.callback_id == ViewId.PICK:
            settle.record_form_opened(ctx, user)


def refresh_methods(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    try:
        alert_id = refs.parse(_value(body), "alert")
    except refs.BadRef:
        return
    view = body.get("view") or {}
    if view.get("id"):
        show_settle_form(context, alert_id, body["user"]["id"], view["id"], view.get("hash"))


def check_verification(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    settle: SettlementService = context["settle"]
    publisher: Publisher = context["publisher"]
    user = body["user"]["id"]
    view = body.get("view") or {}
    try:
        sid = refs.parse(_value(body), "settlement")
        st = settle.get(sid)
        if st is None:
            raise NotSettleable("gone")
        settle.authorize(user, st.alert_id)
    except refs.BadRef:
        return
    except (Refused, NotSettleable) as exc:
        text = refusal_text(exc) if isinstance(exc, Refused) else dead_end_text(exc)
        if view.get("id"):
            client.views_update(view_id=view["id"], view=info_view("Settle balance", text))
        return
    if settle.check_verification(sid) is None and view.get("id"):
        # still waiting: show the same step again, fresh (the outcome, when it comes, is published)
        current = settle.get(sid)
        if current is not None:
            client.views_update(view_id=view["id"], view=publisher.view_for(current))


def register(app: App) -> None:
    app.action(Action.SETTLE_OPEN)(open_settle)
    app.action(Action.REFRESH_METHODS)(refresh_methods)
    app.action(Action.CHECK_VERIFICATION)(check_verification)
    for link in (Action.VIEW_INVOICE, Action.ADD_METHOD, Action.VERIFY):
        app.action(link)(ack_link)
