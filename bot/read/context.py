"""Everything the settle modal shows."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.records import Invoice, PaymentMethod
from bot.read.batches import BatchRecord
from bot.read.cards import AlertCard, total


@dataclass(frozen=True)
class SettleContext:
    """The alert, its open invoices as the provider has them now, the account's payment methods, and
    a confirmation already holding one of them, if any."""

    alert: AlertCard
    invoices: list[Invoice]
    methods: list[PaymentMethod]
    add_method_url: str | None
    in_flight: BatchRecord | None
    preselect_method_id: str | None = None  # a card just added on the provider's page
    barred: frozenset[str] = frozenset()  # cards declined for good for this balance: never offered

    @property
    def offered(self) -> list[PaymentMethod]:
        return [m for m in self.methods if m.id not in self.barred]

    @property
    def amount(self) -> str:
        return total(self.invoices)
