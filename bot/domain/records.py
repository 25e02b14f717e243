"""What Settle and a billing provider exchange: plain records, no I/O. Money is integer minor units
plus an ISO 4217 currency code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

Outcome = Literal["succeeded", "declined", "requires_action"]
InvoiceStatus = Literal["open", "paid", "voided", "uncollectible", "draft"]
ClosedAs = Literal["paid", "voided", "uncollectible"]


def card_label(brand: str | None, last4: str | None) -> str:
    """How a card is named everywhere: "Visa ·· 4242"."""
    return f"{brand or 'Card'} ·· {last4 or '????'}"


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str

    @property
    def label(self) -> str:
        return card_label(self.brand, self.last4)


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
    attempt: int | None = None  # the provider's attempt count for this invoice (1 = the first)
    next_attempt_at: datetime | None = None  # the provider's next automatic retry; None: none left
    test_mode: bool = False  # a test-mode event (Stripe's livemode: false), never a live incident
    message: str | None = None  # the bank's (the provider's) own words for the decline
    invoice: Invoice | None = None  # the invoice as the feed brought it (Settle reads it otherwise)


@dataclass(frozen=True)
class InvoiceClosed:
    """An invoice that nobody needs to settle any more: paid (by Settle, or outside it), voided or
    written off at the provider."""

    invoice_id: str
    at: datetime
    state: ClosedAs = "paid"


@dataclass(frozen=True)
class AccountInfo:
    """A customer as the provider has it. `metadata` is the provider's own key-value data about the
    customer (Stripe's customer metadata, the sandbox YAML's routing), read by Settle's routing;
    None when the provider keeps none."""

    id: str
    name: str
    currency: str | None = None
    metadata: Mapping[str, str] | None = None
    locale: str | None = None  # the customer's preferred language, if the provider knows it
    # the cards its renewals are charged to, when the provider says (the sandbox always; Stripe when
    # the customer's default card just changed): a warning about any other card is over
    renewal_methods: frozenset[str] | None = None


@dataclass(frozen=True)
class MethodAdded:
    """A card added on the provider's hosted page opened with `ref` (see add_method_url)."""

    account_id: str
    ref: str
    method_id: str | None


@dataclass(frozen=True)
class ChangePage:
    """What changed since a cursor: declined renewals, invoices closed, customers updated, cards
    added. A poll reads this and nothing else, so its cost grows with new changes, never with the
    alerts still open. Every change is safe to apply twice (a webhook and the poll may both bring it)."""

    failures: list[PaymentFailure]
    cursor: str | None  # pass back to get only newer changes; None when nothing was ever read
    closed: list[InvoiceClosed] = field(default_factory=list)
    accounts: list[AccountInfo] = field(default_factory=list)
    methods_added: list[MethodAdded] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)  # the provider's events this page applies, if it has ids


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    card: Card
    exp_month: int
    exp_year: int
    is_default: bool

    def expired(self, today: date | None = None) -> bool:
        today = today or datetime.now(UTC).date()
        return (self.exp_year, self.exp_month) < (today.year, today.month)


@dataclass(frozen=True)
class Invoice:
    id: str
    account_id: str
    amount_minor: int
    currency: str
    description: str
    status: InvoiceStatus
    url: str | None


@dataclass(frozen=True)
class Renewal:
    """An automatic renewal coming up, and the card it will be charged to."""

    account_id: str
    renews_at: datetime
    amount_minor: int
    currency: str
    method: PaymentMethod | None  # the default card it will be charged to (None: no card at all)


@dataclass(frozen=True)
class PaymentResult:
    outcome: Outcome
    reason: str | None
    payment_id: str
    verification_url: str | None = None
