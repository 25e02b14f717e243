"""Button clicks on alerts and in the settle modal. Each acks first, then works; domain errors go to
the error handler (handlers/support/errors.py), which answers on the surface the click came from."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.balances.access import CLICK_CACHE_SECONDS
from bot.domain.errors import NotSettleable, ProviderUnavailable, Refused
from bot.domain.workspace import Requester
from bot.i18n import N_, _, current, use
from bot.read.batches import BatchStatus
from handlers.blocks.settle_modal import MODAL_TITLE, info_view, loading_view, outcome_view, pick_view, verify_view
from handlers.support import refs
from handlers.support.errors import Reply, answering, ephemeral, reply_text
from handlers.support.ids import ActionId, CallbackId
from handlers.support.services import Services, requester, services

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
        requester(context),
        str(body.get("trigger_id") or ""),
        alert_id,
        reply=lambda text: ephemeral(client, body, text),
        on_top=isinstance(body.get("view"), dict),
    )


def open_settle_modal(
    context: BoltContext,
    client: WebClient,
    who: Requester,
    trigger_id: str,
    alert_id: int,
    reply: Reply,
    *,
    on_top: bool = False,
) -> None:
    """Authorise, open the loading view while the trigger is fresh, then fill it in the background.

    Any surface can call this (an alert button, /settle, App Home): `reply` answers the user where they
    asked when no modal opens."""
    svc = services(context)
    with svc.open_gate.opening():
        try:
            # may reuse a check from the last few seconds: the form filled next is checked afresh
            svc.access.authorize(who, alert_id, max_age=CLICK_CACHE_SECONDS)
        except (Refused, NotSettleable) as exc:
            reply(reply_text(exc))
            return
        try:
            # from a modal (a digest's list) the form goes on top of it; else it opens its own
            show = client.views_push if on_top else client.views_open
            opened = show(trigger_id=trigger_id, view=loading_view())
        except SlackApiError as exc:
            log.warning("views.open failed for alert %s: %s", alert_id, exc.response.get("error"))
            reply(_(TRIGGER_EXPIRED))
            return
    view_id = str(opened["view"]["id"])
    log.info("settle modal %s opened for alert %s by %s", view_id, alert_id, who.user_id)
    # Filling the form (provider reads, views.update, audit) runs on its own small pool and waits for
    # other clicks' views.open first: their trigger_ids are about to expire.
    svc.fill.submit(_fill_when_quiet, context, client, alert_id, who, view_id, current())


def _fill_when_quiet(
    context: BoltContext, client: WebClient, alert_id: int, who: Requester, view_id: str, lang: str
) -> None:
    with use(lang):  # a thread of its own: the clicker's language goes with it
        try:
            services(context).open_gate.wait_quiet()
            show_settle_form(context, client, alert_id, who, view_id)
        except Exception as exc:  # nobody else would see it: this runs outside Bolt
            log.exception("settle form %s for alert %s not filled", view_id, alert_id)
            _show(client, view_id, info_view(MODAL_TITLE, reply_text(exc)))


def show_settle_form(
    context: BoltContext, client: WebClient, alert_id: int, who: Requester, view_id: str, view_hash: str | None = None
) -> None:
    svc = services(context)
    ctx = None
    try:
        ctx = svc.forms.context(alert_id, who, svc.modals.form_ref(view_id, alert_id, who))
        flight = ctx.in_flight
        if flight and flight.status == BatchStatus.REQUIRES_ACTION and flight.user_id == who.user_id:
            view = verify_view(flight)  # the same step again (another tab): it moves on with the first
            svc.modals.follow(flight, who, view_id=view_id)
        elif flight:
            view = info_view(MODAL_TITLE, reply_text(NotSettleable("busy", by=flight.user_id)))
            svc.modals.follow(flight, who, view_id=view_id)  # another admin's modal moves on too
        else:
            view = pick_view(ctx)
    except (Refused, NotSettleable, ProviderUnavailable) as exc:
        view = info_view(MODAL_TITLE, reply_text(exc))
    shown = _show(client, view_id, view, view_hash)
    # a refresh (view_hash) of an open form is not another opening
    if shown and ctx is not None and view.callback_id == CallbackId.PICK and view_hash is None:
        svc.forms.record_form_opened(ctx, who)


def _show(client: WebClient, view_id: str, view: Any, view_hash: str | None = None) -> bool:
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
        show_settle_form(context, client, alert_id, requester(context), view["id"], view.get("hash"))


def check_verification(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    svc = services(context)
    batch_id = refs.required(context, "batch")
    svc.batches.authorized(batch_id, requester(context))
    view_id = (body.get("view") or {}).get("id")
    if svc.recovery.check_verification(batch_id) is None and isinstance(view_id, str):
        # the bank has not answered: say so (the outcome, when it comes, updates this modal)
        _show(client, view_id, verify_view(svc.batches.get(batch_id), not_yet=True))


def use_another_card(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    svc = services(context)
    who = requester(context)
    batch = svc.recovery.abandon_verification(refs.required(context, "batch"), who)
    view_id = (body.get("view") or {}).get("id")
    if not isinstance(view_id, str):
        return
    if batch.status == BatchStatus.SUCCEEDED:  # the bank approved just before: nothing to choose again
        _show(client, view_id, outcome_view(batch, None))
    else:
        _show(client, view_id, pick_view(_form(svc, batch.alert_id, who, view_id)))


def _form(svc: Services, alert_id: int, who: Requester, view_id: str) -> Any:
    return svc.forms.context(alert_id, who, svc.modals.form_ref(view_id, alert_id, who))


def register(app: App) -> None:
    app.action(ActionId.SETTLE_OPEN)(answering(settle_clicked))
    app.action(ActionId.REFRESH_METHODS)(answering(refresh_methods))
    app.action(ActionId.CHECK_VERIFICATION)(answering(check_verification))
    app.action(ActionId.USE_ANOTHER_CARD)(answering(use_another_card))
    for link in (ActionId.VIEW_INVOICE, ActionId.ADD_METHOD):
        app.action(link)(answering(ack_link))
    app.action(re.compile(f"^{ActionId.VERIFY}(_[0-9])?$"))(answering(ack_link))
    app.action(re.compile(f"^{ActionId.CUSTOMER_PAGE}_(card|[0-9])$"))(answering(ack_link))
