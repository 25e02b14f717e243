"""Who the money service tells when something a person is looking at moved on: the Slack side's modal
tracker (handlers/adapters) implements this; the money service knows no view or modal."""

from __future__ import annotations

from typing import Protocol

from bot.read.batches import BatchRecord


class SettlementEvents(Protocol):
    def batch_changed(self, batch: BatchRecord) -> None:
        """A confirmation's outcome (or next step) is known: whoever shows it, shows it now."""
        ...

    def card_added(self, account_id: str, ref: str, method_id: str | None) -> None:
        """A card was added on the provider's page opened with `ref` (the ref the form was given)."""
        ...

    def actor_of(self, ref: str) -> str | None:
        """Who the add-card link with `ref` was issued to (the page itself knows no person)."""
        ...
