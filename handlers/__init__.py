"""Slack listeners and Block Kit builders. `register` wires every listener onto a Bolt app."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

if TYPE_CHECKING:
    from bot.balances.follow_ups import FollowUps
    from bot.delivery.home import HomeService
    from bot.settlement.service import SettlementService
    from bot.slack.languages import UserLanguages


def register(
    app: App,
    settle: SettlementService,
    web: WebClient,
    background: Executor,
    home: HomeService,
    follow_ups: FollowUps,
    languages: UserLanguages,
) -> None:
    from bot.slack.workspaces import enter_workspace
    from handlers.listeners import actions, card_warning, commands, follow_up, views
    from handlers.listeners import home as home_tab
    from handlers.support.errors import on_error
    from handlers.support.priority import OpenGate
    from handlers.support.refs import decode, raw_ref

    gate = OpenGate()

    def provide(body: dict[str, Any], context: BoltContext, next: Any) -> Any:
        """One middleware (each costs click time): the services, and the interaction's reference
        decoded once into context["ref"] (a listener asks for the kind it expects, refs.required)."""
        enter_workspace(context.team_id)  # what this request does in Slack, it does in its workspace
        context["settle"] = settle
        # one bot token: the shared client; with OAuth, Bolt's client holding this workspace's token
        context["web"] = web if web.token else context.client
        context["background"] = background
        context["open_gate"] = gate
        context["follow_ups"] = follow_ups
        context["languages"] = languages
        context["ref"] = decode(raw_ref(body))
        return next()

    app.middleware(provide)
    app.error(on_error)
    actions.register(app)
    commands.register(app)
    views.register(app)
    home_tab.register(app, home)
    follow_up.register(app)
    card_warning.register(app)
