"""What a provider tells Settle, as a real one would with a webhook: a card was added on its hosted
page, a payment changed at the bank. Settle's side of bot/billing/base.py's ProviderHooks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.card_warnings import CardWarnings
from bot.settlement.events import SettlementEvents
from bot.settlement.recovery import Recovery
from storage import audit
from storage.db import reading, transaction
from storage.models import Settlement


class SettlementHooks:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        recovery: Recovery,
        events: SettlementEvents,
        card_warnings: CardWarnings | None = None,
    ) -> None:
        self.sessions = sessions
        self.recovery = recovery
        self.events = events
        self.card_warnings = card_warnings

    def method_added(self, account_id: str, ref: str, method_id: str | None = None) -> None:
        """A card was added on the hosted page: audit it, and tell whoever is waiting for it."""
        actor = self.events.actor_of(ref)
        with transaction(self.sessions) as s:
            # the page knows no person: the card was added through the link issued to this admin
            audit.record(
                s,
                "payment_method_added",
                actor=actor or "hosted page",
                account_id=account_id,
                provider_ref=method_id,
                via="hosted page",
            )
        if self.card_warnings is not None and self.card_warnings.card_added(account_id, ref, method_id):
            return  # a warning's Update card: no settle form waits for it
        self.events.card_added(account_id, ref, method_id)

    def payment_updated(self, payment_id: str) -> None:
        with reading(self.sessions) as s:
            batch_id = s.scalar(select(Settlement.batch_id).where(Settlement.payment_id == payment_id))
        if batch_id is not None:
            self.recovery.check_verification(batch_id)
