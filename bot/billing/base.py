"""The provider interface Settle talks to, and the plain records it exchanges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Outcome = Literal["succeeded", "declined", "requires_action"]


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str

    @property
    def label(self) -> str:
        return f"{self.brand} ·· {self.last4}"


@dataclass(frozen=True)
class PaymentFailure:
    """A declined (or verification-blocked) automatic charge."""

    id: str
    account_id: str
    invoice_id: str
    amount_minor: int
    currency: str
    outcome: Outcome
    reason: str
    payment_method_id: str | None
    card: Card | None
    at: datetime


@dataclass(frozen=True)
class FailurePage:
    failures: list[PaymentFailure]
    cursor: str | None  # pass back to get only newer failures; None when nothing was ever read


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    card: Card
    exp_month: int
    exp_year: int
    is_default: bool


@dataclass(frozen=True)
class Invoice:
    id: str
    account_id: str
    amount_minor: int
    currency: str
    description: str
    status: Literal["open", "paid"]
    url: str | None


@dataclass(frozen=True)
class PaymentResult:
    outcome: Outcome
    reason: str | None
    payment_id: str
    verification_url: str | None = None


class BillingProvider(Protocol):
    name: str

    def list_failures(self, cursor: str | None, limit: int = 100) -> FailurePage:
        """Failures strictly newer than `cursor`, oldest first, at most `limit`."""
        ...

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]: ...

    def get_invoice(self, invoice_id: str) -> Invoice | None: ...

    def pay_invoice(self, invoice_id: str, payment_method_id: str, *, idempotency_key: str) -> PaymentResult:
        """Charge with the cardholder present (may need bank verification); replays on a reused key."""
        ...

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        """The current state of a payment made by pay_invoice (e.g. after bank verification)."""
        ...

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None: ...

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        """A link to the provider's hosted page where a card is added (card numbers never reach Slack).

        `ref` comes back to Settle with the provider's notice that a card was added."""
        ...
