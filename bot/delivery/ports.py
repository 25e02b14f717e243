"""What the domain needs from the Slack UI, as protocols: the composition root (bot/app.py) passes
in implementations from handlers/, so nothing in bot/ imports a listener or Block Kit code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot.read.model import AlertCard, BatchRecord, SettleContext

if TYPE_CHECKING:
    from slack_sdk.models.blocks import Block


class AlertRenderer(Protocol):
    """Turns an alert's record into the message Slack shows."""

    def text(self, card: AlertCard) -> str: ...

    def blocks(self, card: AlertCard) -> list[Block]: ...

    def reply(self, card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
        """A thread reply under the alert (a later decline, a balance that grew, a settlement)."""
        ...


class Notifier(Protocol):
    """Tells the people involved that something changed; never raises for a Slack failure."""

    def batch_changed(self, batch: BatchRecord, views: dict[str, SettleContext | None]) -> None:
        """A confirmation's outcome (or next step) is known: show it in each modal `views` names
        (the admin's, and any other showing this confirmation), with that modal's fresh content
        after a decline so its admin can pick another card for what is still owed."""
        ...

    def methods_changed(self, view_id: str, ctx: SettleContext, user_id: str | None = None) -> None:
        """A card was added on the provider's page while the admin's modal `view_id` was open."""
        ...
