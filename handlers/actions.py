"""Button clicks on alerts and in modals."""

from __future__ import annotations

from slack_bolt import Ack, App

from handlers.ids import Action


def ack_link(ack: Ack) -> None:
    """Link buttons still send an action; acking keeps Slack from showing an error icon."""
    ack()


def register(app: App) -> None:
    app.action(Action.VIEW_INVOICE)(ack_link)
