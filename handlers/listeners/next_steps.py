"""The step a decline's reason adds beside settling: Send payment page…, Ask for a new card…, Retry
on…. Each form opens only for who may take the step, and its submit re-checks on the server."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain.errors import InvalidChoice
from bot.i18n import _
from bot.settlement.asking import ASKS, Ask
from bot.settlement.retries import MAX_AHEAD, MIN_AHEAD, AlreadyScheduled
from handlers.blocks.mrkdwn import slack_date
from handlers.blocks.next_steps import ASK_TITLES, RETRY_AT, ask_view, retry_view
from handlers.blocks.settle_modal import info_view
from handlers.listeners.follow_up import open_form, raw_action, tell
from handlers.support import refs
from handlers.support.errors import after_ack, answering, replace_view
from handlers.support.ids import ActionId, BlockId, CallbackId
from handlers.support.services import requester, services

STEP_ASKS: dict[str, Ask] = {"send_page": "pay", "new_card": "card"}


def step_chosen(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    svc = services(context)
    alert_id = refs.required(context, "alert")
    step = refs.action_of(raw_action(body).get("value"))
    who = requester(context)
    if step in STEP_ASKS:
        ask: Ask = STEP_ASKS[str(step)]
        open_form(client, body, ask_view(alert_id, ask, svc.asks.links(alert_id, who, ask)))
    elif step == "retry_on":
        open_form(client, body, retry_view(alert_id, svc.retries.form(alert_id, who)))
    elif step == "cancel_retry":
        if svc.retries.cancel(alert_id, who):
            tell(client, body, context, _("Retry cancelled: nothing will be charged on that day."))
        else:
            tell(client, body, context, _("There is no retry to cancel: it already ran or was cancelled."))
    else:
        raise refs.BadRef(f"unknown step {step!r}")


def _working(client: WebClient, body: dict[str, Any], ack: Ack, context: BoltContext, title: str) -> str:
    """Answer the submit with a view that says it is being done; errors from here on replace it."""
    view = body["view"]
    external_id = services(context).modals.new_external_id(view.get("id") if isinstance(view.get("id"), str) else None)
    working = info_view(title, _("⏳ Saving…"))
    working.external_id = external_id
    ack(response_action="update", view=working)
    context["shown"] = external_id
    return external_id


def ask_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    svc = services(context)
    alert_id = refs.required(context, "alert")
    raw = refs.action_of(body["view"].get("private_metadata"))
    ask = next((a for a in ASKS if a == raw), None)
    if ask is None:
        raise refs.BadRef(f"unknown ask {raw!r}")
    external_id = _working(client, body, ack, context, ASK_TITLES[ask])
    who = requester(context)

    def sent() -> None:
        svc.asks.sent(alert_id, who, ask)
        done = _("✅ Noted: the alert says you sent the customer the link. When they pay, it updates itself.")
        replace_view(client, external_id, info_view(ASK_TITLES[ask], done))

    after_ack(ack, body, client, context, sent)


def retry_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    svc = services(context)
    view = body["view"]
    alert_id = refs.required(context, "alert")
    shown = str(refs.action_of(view.get("private_metadata")) or "")
    values = (view.get("state") or {}).get("values") or {}
    picked = ((values.get(BlockId.RETRY_DATE) or {}).get(ActionId.RETRY_DATE) or {}).get("selected_date")
    option = ((values.get(BlockId.RETRY_METHOD) or {}).get(ActionId.RETRY_METHOD) or {}).get("selected_option") or {}
    method_id = option.get("value") if isinstance(option, dict) else None
    due = _morning(picked)
    now = datetime.now(UTC)
    if due is None or not now + MIN_AHEAD <= due <= now + MAX_AHEAD:
        ack(response_action="errors", errors={BlockId.RETRY_DATE: _("Pick a day after today, within 60 days.")})
        return
    if not isinstance(method_id, str) or not shown:
        ack(response_action="errors", errors={BlockId.RETRY_METHOD: _("Pick the card to retry.")})
        return
    external_id = _working(client, body, ack, context, _("Retry on a date"))
    who = requester(context)

    def schedule() -> None:
        try:
            retry = svc.retries.schedule(alert_id, who, method_id, due, shown)
        except AlreadyScheduled:
            text = _(
                "A retry of this balance is already scheduled: press *Cancel retry* on the alert to pick another day."
            )
            replace_view(client, external_id, info_view(_("Retry on a date"), text))
            return
        except InvalidChoice as exc:
            if str(exc) != "invoices":
                raise
            replace_view(client, external_id, retry_view(alert_id, svc.retries.form(alert_id, who), changed=True))
            return
        text = _("🔁 Scheduled: Settle retries the balance on {when}. The alert shows it, with a Cancel retry button.")
        if retry.status == "awaiting":
            text = _(
                "🖐 Sent for approval: the balance is above the amount another admin approves. Once one of them "
                "approves it in the alert's thread or on App Home, Settle retries it on {when}."
            )
        replace_view(client, external_id, info_view(_("Retry on a date"), text.format(when=slack_date(due))))

    after_ack(ack, body, client, context, schedule)


def _morning(picked: Any) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(str(picked)), RETRY_AT)
    except ValueError:
        return None


def register(app: App) -> None:
    app.action(ActionId.NEXT_STEP)(answering(step_chosen))
    app.view_submission(CallbackId.ASK)(answering(ask_submitted))
    app.view_submission(CallbackId.RETRY)(answering(retry_submitted))
