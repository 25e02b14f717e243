"""What an alert message shows, read from the database; builders render it, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.money import format_money


@dataclass(frozen=True)
class AlertCard:
    alert_id: int
    account_id: str
    account_name: str
    invoice_id: str
    invoice_description: str
    invoice_url: str | None
    amount_minor: int
    currency: str
    card_label: str | None
    reason: str
    outcome: str
    decline_count: int
    declined_at: datetime
    state: str  # open | settling | verification_pending | paid
    intended_channel: str | None = None  # set when posted to the fallback channel instead
    paid_at: datetime | None = None
    paid_by: str | None = None
    paid_with: str | None = None
    pending_by: str | None = None
    note: str | None = None

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)
