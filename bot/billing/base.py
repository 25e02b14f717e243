"""The provider seam: the interface Settle talks to, and the hooks a provider calls back (a card added
on its hosted page, a bank step finished). The records it exchanges are bot/domain/records.py."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.domain.records import AccountInfo, ChangePage, ClosedAs, Invoice, PaymentMethod, PaymentResult, Renewal


class BillingProvider(Protocol):
    name: str

    def changes(self, cursor: str | None, limit: int = 100) -> ChangePage:
        """Changes strictly newer than `cursor`, oldest first, at most `limit` of them."""
        ...

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]: ...

    def get_invoice(self, invoice_id: str) -> Invoice | None: ...

    def get_account(self, account_id: str) -> AccountInfo | None:
        """Asked once for an account Settle meets for the first time (its name and routing)."""
        ...

    def pay_invoice(
        self, invoice_id: str, payment_method_id: str, *, idempotency_key: str, off_session: bool = False
    ) -> PaymentResult:
        """Charge with the cardholder present (may need bank verification), or `off_session` with no
        one at the card (a scheduled retry: a bank that wants verification declines); replays on a
        reused key."""
        ...

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        """The current state of a payment made by pay_invoice (e.g. after bank verification)."""
        ...

    def cancel_payment(self, payment_id: str) -> PaymentResult | None:
        """Abandon a payment waiting for the bank: its verification can no longer approve it.
        Returns the payment's final state (it may have succeeded just before), None if unknown."""
        ...

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None: ...

    def end_invoice(self, invoice_id: str, how: ClosedAs, *, idempotency_key: str) -> None:
        """End an open invoice without charging a card: paid another way (a transfer, a cheque:
        marked paid out of band), voided, or written off (uncollectible). Safe to repeat with the
        same key; an invoice already ended that way is left as it is."""
        ...

    def upcoming_renewals(self, before: datetime) -> list[Renewal]:
        """Renewals due before `before`, with their default card: read by a scan a few times a day,
        never per poll."""
        ...

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        """A link to the provider's hosted page where a card is added (card numbers never reach Slack).

        `ref` comes back to Settle with the provider's notice that a card was added."""
        ...

    def customer_card_url(self, account_id: str, ref: str) -> str | None:
        """The same page, for the customer: a link an admin sends them, open for days, not an hour."""
        ...


class ProviderHooks(Protocol):
    """What a provider tells Settle, as a real one would with a webhook."""

    def method_added(self, account_id: str, ref: str, method_id: str | None = None) -> None:
        """A card (`method_id`) was added on the hosted page opened with `ref` (see add_method_url)."""
        ...

    def payment_updated(self, payment_id: str) -> None:
        """A payment made by pay_invoice changed (the bank answered)."""
        ...
