"""Settle's App Home tab: published when its viewer opens it (after Slack is answered)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain import slack_ids
from handlers.support.services import requester, services


def home_opened(ack: Ack, event: dict[str, Any], context: BoltContext) -> None:
    ack()
    user_id = event.get("user")
    if event.get("tab", "home") != "home" or not isinstance(user_id, str) or not slack_ids.USER.match(user_id):
        return
    svc = services(context)
    svc.fill.submit(svc.home.opened, requester(context))


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
