"""The Slack UI: listeners/ (thin: parse, authorise, call a service, render), blocks/ (pure Block Kit
builders of read-model records), adapters/ (the domain's ports for Slack: the modal tracker), and
support/ (ids, references, errors, the services bundle). `register` wires every listener onto a Bolt
app; the composition root (bot/app.py) calls it.

May import: any bot room below the composition root except bot.billing (providers are reached
through the domain), slack_bolt, slack_sdk. Listeners and blocks hold no SQL (adapters keep their
own state through storage)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from handlers.listeners import (
    actions,
    approvals,
    card_warning,
    commands,
    digest,
    follow_up,
    home,
    links,
    next_steps,
    views,
)
from handlers.support.errors import on_error
from handlers.support.refs import decode, raw_ref
from handlers.support.services import Services


def register(app: App, svc: Services) -> None:
    def provide(body: dict[str, Any], context: BoltContext, next: Any) -> Any:
        """One middleware (each costs click time): the services, and the interaction's reference
        decoded once into context["ref"] (a listener asks for the kind it expects, refs.required)."""
        context["services"] = svc
        context["ref"] = decode(raw_ref(body))
        return next()

    app.middleware(provide)
    app.error(on_error)
    actions.register(app)
    commands.register(app)
    views.register(app)
    home.register(app)
    follow_up.register(app)
    next_steps.register(app)
    approvals.register(app)
    links.register(app)
    card_warning.register(app)
    digest.register(app)
