"""Slack listeners and Block Kit builders. `register` wires every listener onto a Bolt app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext

if TYPE_CHECKING:
    from bot.services import Services


def register(app: App, services: Services) -> None:
    from handlers import actions

    @app.middleware
    def provide_services(context: BoltContext, next: Any) -> Any:
        context["services"] = services
        return next()

    actions.register(app)
