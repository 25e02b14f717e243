"""The provider seam: the interface Settle talks to, the records it exchanges, the errors it raises,
and the hooks a provider calls back (a card added on its hosted page, a bank step finished)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol

Outcome = Literal["succeeded", "declined", "requires_action"]
InvoiceStatus = Literal["open", "paid", "voided", "uncollectible", "draft"]


class BillingError(Exception):
    """A request the provider refuses (unknown invoice, paid invoice, foreign card...)."""


class ProviderUnavailable(Exception):
    """The provider did not answer (network, rate limit, its own error, a refused key), after its
    client's retries. Not a BillingError: for a charge the outcome is unknown, never "declined"."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


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


ClosedAs = Literal["paid", "voided", "uncollectible"]


@dataclass(frozen=True)
class InvoiceClosed:
    """An invoice that nobody needs to settle any more: paid (by Settle, or outside it), voided or
    written off at the provider."""

    invoice_id: str
    at: datetime
    state: ClosedAs = "paid"


@dataclass(frozen=True)
class AccountInfo:
    """A customer as the provider has it. `channel`/`admins` None: the provider does not route."""

    id: str
    name: str
    currency: str | None = None
    channel: str | None = None
    admins: tuple[str, ...] | None = None
    locale: str | None = None  # the customer's preferred language, if the provider knows it
    team: str | None = None  # the Slack workspace its alerts go to (with OAuth)


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

    def pay_invoice(self, invoice_id: str, payment_method_id: str, *, idempotency_key: str) -> PaymentResult:
        """Charge with the cardholder present (may need bank verification); replays on a reused key."""
        ...

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        """The current state of a payment made by pay_invoice (e.g. after bank verification)."""
        ...

    def cancel_payment(self, payment_id: str) -> PaymentResult | None:
        """Abandon a payment waiting for the bank: its verification can no longer approve it.
        Returns the payment's final state (it may have succeeded just before), None if unknown."""
        ...

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None: ...

    def upcoming_renewals(self, before: datetime) -> list[Renewal]:
        """Renewals due before `before`, with their default card: read by a scan a few times a day,
        never per poll."""
        ...

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        """A link to the provider's hosted page where a card is added (card numbers never reach Slack).

        `ref` comes back to Settle with the provider's notice that a card was added."""
        ...


class ProviderHooks(Protocol):
    """What a provider tells Settle, as a real one would with a webhook."""

    def method_added(self, account_id: str, ref: str, method_id: str | None = None) -> None:
        """A card (`method_id`) was added on the hosted page opened with `ref` (see add_method_url)."""
        ...

    def payment_updated(self, payment_id: str) -> None:
        """A payment made by pay_invoice changed (the bank answered)."""
        ...
