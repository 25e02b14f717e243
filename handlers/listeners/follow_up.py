"""The alert's follow-up controls: its menu (snooze for a day, three, until a date; stop snoozing;
unassign) and its people picker (assign). Each re-checks the clicker's rights on the server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.models.views import View

from bot.balances.follow_ups import MAX_SNOOZE
from bot.i18n import _
from bot.read.cards import shown
from bot.settlement.endings import ENDINGS, BalanceChanged
from handlers.blocks.follow_up import END_TITLES, WAKE_AT, end_view, snooze_view
from handlers.blocks.mrkdwn import code, slack_date, user
from handlers.blocks.settle_modal import info_view
from handlers.listeners.digest import refresh_list
from handlers.support import refs
from handlers.support.errors import after_ack, answering, ephemeral, replace_view, reply_text
from handlers.support.ids import ActionId, BlockId, CallbackId
from handlers.support.services import requester, services

SNOOZE_FOR = {"snooze_1d": timedelta(days=1), "snooze_3d": timedelta(days=3)}


def raw_action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    return actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}


def open_form(client: WebClient, body: dict[str, Any], view: View) -> None:
    """A form opened from the alert's controls; from a modal (a digest's list), on top of it."""
    trigger = str(body.get("trigger_id") or "")
    if isinstance(body.get("view"), dict):
        client.views_push(trigger_id=trigger, view=view)
    else:
        client.views_open(trigger_id=trigger, view=view)


def tell(client: WebClient, body: dict[str, Any], context: BoltContext, text: str) -> None:
    """What was done, where it was asked: the digest's list again (saying so), else ephemerally."""
    if not refresh_list(client, body, context, text):
        ephemeral(client, body, text)


def menu_chosen(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    follow = services(context).follow_ups
    alert_id = refs.required(context, "alert")
    who = requester(context)
    option = raw_action(body).get("selected_option") or {}
    do = refs.action_of(option.get("value"))
    if do in SNOOZE_FOR:
        until = datetime.now(UTC) + SNOOZE_FOR[str(do)]
        follow.snooze(alert_id, who, until)
        tell(
            client,
            body,
            context,
            _("💤 Snoozed until {when}: no reminders or escalation until then.").format(when=slack_date(until)),
        )
    elif do == "snooze_date":
        follow.access.authorize(who, alert_id, action="snooze")  # no form for someone who may not use it
        open_form(client, body, snooze_view(alert_id))
    elif do == "wake":
        follow.snooze(alert_id, who, None)
        tell(client, body, context, _("Snooze ended: reminders are back on."))
    elif do == "unassign":
        follow.assign(alert_id, who, None)
        tell(client, body, context, _("Unassigned: reminders mention the account's admins again."))
    else:
        raise refs.BadRef(f"unknown menu option {do!r}")


def assign_chosen(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    follow = services(context).follow_ups
    assignee = raw_action(body).get("selected_user")
    if not isinstance(assignee, str):
        raise refs.BadRef("no user picked")
    try:
        follow.assign(refs.required(context, "alert"), requester(context), assignee)
    except ValueError:
        tell(client, body, context, _("That is not a person Settle can assign. Pick someone from your workspace."))
        return
    tell(client, body, context, _("Assigned to {who}: reminders will mention them.").format(who=user(assignee)))


def snooze_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    follow = services(context).follow_ups
    view = body["view"]
    values = ((view.get("state") or {}).get("values") or {}).get(BlockId.SNOOZE_DATE) or {}
    picked = (values.get(ActionId.SNOOZE_DATE) or {}).get("selected_date")
    until = _morning(picked)
    now = datetime.now(UTC)
    if until is None or not now < until <= now + MAX_SNOOZE:
        ack(response_action="errors", errors={BlockId.SNOOZE_DATE: _("Pick a day after today, within 90 days.")})
        return
    follow.snooze(refs.required(context, "alert"), requester(context), until)
    ack()


def end_chosen(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Paid another way, Void, Write off: the confirmation with its reason, for who may end it only."""
    ack()
    svc = services(context)
    alert_id = refs.required(context, "alert")
    how = refs.action_of((raw_action(body).get("selected_option") or {}).get("value"))
    if how not in ENDINGS:
        raise refs.BadRef(f"unknown ending {how!r}")
    card, shown_ids = svc.endings.check(alert_id, requester(context), how)  # no form for who may not use it
    open_form(client, body, end_view(alert_id, how, card, shown_ids))


def end_submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    svc = services(context)
    view = body["view"]
    alert_id = refs.required(context, "alert")
    how, _dot, shown_ids = str(refs.action_of(view.get("private_metadata")) or "").partition(".")
    if how not in ENDINGS or not shown_ids:
        raise refs.BadRef(f"unknown ending {how!r}")
    values = ((view.get("state") or {}).get("values") or {}).get(BlockId.END_REASON) or {}
    reason = str((values.get(ActionId.END_REASON) or {}).get("value") or "")
    if not reason.strip():
        ack(response_action="errors", errors={BlockId.END_REASON: _("Say why, in a few words: it is kept.")})
        return
    external_id = svc.modals.new_external_id(view.get("id") if isinstance(view.get("id"), str) else None)
    working = info_view(END_TITLES[how], _("⏳ Updating the billing system…"))
    working.external_id = external_id
    ack(response_action="update", view=working)
    context["shown"] = external_id  # an error from here on replaces this view
    who = requester(context)

    def end() -> None:
        try:
            ended = svc.endings.end(alert_id, who, how, reason, shown_ids)
        except BalanceChanged:
            card, now_ids = svc.endings.check(alert_id, who, how)
            again = end_view(alert_id, how, card, now_ids, changed=True)
            replace_view(client, external_id, again)
            return
        if ended.awaiting is not None:
            waiting = _(
                "🖐 Sent for approval: {amount} is above the amount another admin approves. Nothing is marked "
                "paid until one of them approves it in the alert's thread or on App Home; you will hear there."
            )
            replace_view(client, external_id, info_view(END_TITLES[how], waiting.format(amount=shown(ended.amounts))))
            return
        done = {
            "paid": _("✅ Marked paid another way: {amount}. The alert is updated."),
            "voided": _("✅ Voided: {amount}. The alert is updated."),
            "uncollectible": _("✅ Written off: {amount}. The alert is updated."),
        }[how]
        lines = [done.format(amount=shown(ended.amounts))] if ended.invoices else []
        if ended.not_ended:
            left = ", ".join(code(i) for i in ended.not_ended)
            lines.append(
                _("⚠️ Not ended, still open: {invoices}. {why}").format(
                    invoices=left, why=reply_text(ended.error) if ended.error else ""
                )
            )
        replace_view(client, external_id, info_view(END_TITLES[how], "\n".join(lines)))

    after_ack(ack, body, client, context, end)


def _morning(picked: Any) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(str(picked)), WAKE_AT)
    except ValueError:
        return None


def register(app: App) -> None:
    app.action(ActionId.ALERT_MENU)(answering(menu_chosen))
    app.action(ActionId.ASSIGN)(answering(assign_chosen))
    app.view_submission(CallbackId.SNOOZE)(answering(snooze_submitted))
    app.action(ActionId.END_BALANCE)(answering(end_chosen))
    app.view_submission(CallbackId.END)(answering(end_submitted))
