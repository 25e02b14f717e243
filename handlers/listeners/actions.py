"""Button clicks on alerts and in the settle modal. Each acks first, then works; domain errors go to
the app's error handler (handlers/errors.py), which answers on the surface the click came from."""

from __future__ import annotations

import logging
import re
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.balances.access import CLICK_CACHE_SECONDS
from bot.billing.base import ProviderUnavailable
from bot.domain.errors import NotSettleable, Refused
from bot.i18n import N_, _, use
from bot.read.model import BatchStatus
from bot.settlement.service import SettlementService
from handlers.blocks.settle_modal import MODAL_TITLE, info_view, loading_view, outcome_view, pick_view, verify_view
from handlers.support import refs
from handlers.support.errors import Reply, answering, ephemeral, reply_text
from handlers.support.ids import ActionId, CallbackId
from handlers.support.priority import OpenGate

log = logging.getLogger(__name__)

TRIGGER_EXPIRED = N_("Slack could not open the settle form in time. Please click *Settle balance* again.")


def ack_link(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Link buttons still send an action; acking keeps Slack from showing an error icon."""
    ack()


def settle_clicked(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    alert_id = refs.required(context, "alert")
    open_settle_modal(
        context,
        client,
        str(context.user_id),
        str(body.get("trigger_id") or ""),
        alert_id,
        reply=lambda text: ephemeral(client, body, text),
    )


def open_settle_modal(
    context: BoltContext, client: WebClient, user_id: str, trigger_id: str, alert_id: int, reply: Reply
) -> None:
    """Authorise, open the loading view while the trigger is fresh, then fill it in the background.

    Any surface can call this (an alert button, later /settle or App Home): `reply` answers the
    user where they asked when no modal opens."""
    settle: SettlementService = context["settle"]
    gate: OpenGate = context["open_gate"]
    with gate.opening():
        try:
            # may reuse a check from the last few seconds: the form filled next is checked afresh
            settle.authorize(user_id, alert_id, max_age=CLICK_CACHE_SECONDS)
        except (Refused, NotSettleable) as exc:
            reply(reply_text(exc))
            return
        try:
            opened = client.views_open(trigger_id=trigger_id, view=loading_view())
        except SlackApiError as exc:
            log.warning("views.open failed for alert %s: %s", alert_id, exc.response.get("error"))
            reply(_(TRIGGER_EXPIRED))
            return
    view_id = str(opened["view"]["id"])
    log.info("settle modal %s opened for alert %s by %s", view_id, alert_id, user_id)
    # Filling the form (provider reads, views.update, audit) runs on its own small pool and waits for
    # other clicks' views.open first: their trigger_ids are about to expire.
    background: Executor = context["background"]
    background.submit(_fill_when_quiet, context, alert_id, user_id, view_id)


def _fill_when_quiet(context: BoltContext, alert_id: int, user_id: str, view_id: str) -> None:
    with use(context.get("language")):  # a thread of its own: the clicker's language goes with it
        try:
            context["open_gate"].wait_quiet()
            show_settle_form(context, alert_id, user_id, view_id)
        except Exception as exc:  # nobody else would see it: this runs outside Bolt
            log.exception("settle form %s for alert %s not filled", view_id, alert_id)
            _show(context, view_id, info_view(MODAL_TITLE, reply_text(exc)))


def show_settle_form(
    context: BoltContext, alert_id: int, user_id: str, view_id: str, view_hash: str | None = None
) -> None:
    settle: SettlementService = context["settle"]
    ctx = None
    try:
        ctx = settle.context(alert_id, user_id, view_id)
        flight = ctx.in_flight
        if flight and flight.status == BatchStatus.REQUIRES_ACTION and flight.user_id == user_id:
            view = verify_view(flight)  # the same step again (another tab): it moves on with the first
            settle.watch(flight.id, view_id, user_id)
        elif flight:
            view = info_view(MODAL_TITLE, reply_text(NotSettleable("busy", flight)))
            settle.watch(flight.id, view_id, user_id)  # another admin's modal moves on too
        else:
            view = pick_view(ctx)
    except (Refused, NotSettleable, ProviderUnavailable) as exc:
        view = info_view(MODAL_TITLE, reply_text(exc))
    shown = _show(context, view_id, view, view_hash)
    # a refresh (view_hash) of an open form is not another opening
    if shown and ctx is not None and view.callback_id == CallbackId.PICK and view_hash is None:
        settle.record_form_opened(ctx, user_id)


def _show(context: BoltContext, view_id: str, view: Any, view_hash: str | None = None) -> bool:
    client: WebClient = context["web"]
    try:
        client.views_update(view_id=view_id, view=view, hash=view_hash)
        return True
    except SlackApiError as exc:
        log.info("settle form %s not shown: %s", view_id, exc.response.get("error"))
        return False


def refresh_methods(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    alert_id = refs.required(context, "alert")
    view = body.get("view") or {}
    if isinstance(view.get("id"), str):
        show_settle_form(context, alert_id, str(context.user_id), view["id"], view.get("hash"))


def check_verification(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    settle: SettlementService = context["settle"]
    batch = settle.get_batch(refs.required(context, "batch"))
    settle.authorize(context.user_id, batch.alert_id)
    view_id = (body.get("view") or {}).get("id")
    if settle.check_verification(batch.id) is None and isinstance(view_id, str):
        # the bank has not answered: say so (the outcome, when it comes, updates this modal)
        _show(context, view_id, verify_view(settle.get_batch(batch.id), not_yet=True))


def use_another_card(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    settle: SettlementService = context["settle"]
    user_id = str(context.user_id)
    batch = settle.abandon_verification(refs.required(context, "batch"), user_id)
    view_id = (body.get("view") or {}).get("id")
    if not isinstance(view_id, str):
        return
    if batch.status == BatchStatus.SUCCEEDED:  # the bank approved just before: nothing to choose again
        _show(context, view_id, outcome_view(batch, None))
    else:
        _show(context, view_id, pick_view(settle.context(batch.alert_id, user_id, batch.view_id or view_id)))


def register(app: App) -> None:
    app.action(ActionId.SETTLE_OPEN)(answering(settle_clicked))
    app.action(ActionId.REFRESH_METHODS)(answering(refresh_methods))
    app.action(ActionId.CHECK_VERIFICATION)(answering(check_verification))
    app.action(ActionId.USE_ANOTHER_CARD)(answering(use_another_card))
    for link in (ActionId.VIEW_INVOICE, ActionId.ADD_METHOD):
        app.action(link)(answering(ack_link))
    app.action(re.compile(f"^{ActionId.VERIFY}(_[0-9])?$"))(answering(ack_link))
