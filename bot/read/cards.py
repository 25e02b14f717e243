"""What an alert shows, read from the database in a constant number of queries however many alerts:
its account, every declined invoice, the latest decline, who is doing what about it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from bot.domain.money import format_money
from bot.domain.records import card_label
from bot.domain.states import AlertState, InvoiceState
from storage.models import UNPOSTABLE, Alert, AlertInvoice


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice of an alert's balance."""

    invoice_id: str
    description: str
    url: str | None
    amount_minor: int
    currency: str
    decline_count: int
    reason: str
    paid: bool
    paid_by: str | None = None
    paid_with: str | None = None
    state: InvoiceState = InvoiceState.OPEN

    def __post_init__(self) -> None:
        if self.paid and self.state == InvoiceState.OPEN:
            object.__setattr__(self, "state", InvoiceState.PAID)

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)


class Priced(Protocol):
    @property
    def amount_minor(self) -> int: ...

    @property
    def currency(self) -> str: ...


def per_currency(lines: Iterable[Priced]) -> dict[str, int]:
    """A sum of amounts in minor units, per currency (what a stored message keeps, to show in the
    reader's language later)."""
    sums: dict[str, int] = {}
    for line in lines:
        sums[line.currency] = sums.get(line.currency, 0) + line.amount_minor
    return sums


def shown(sums: dict[str, int]) -> str:
    """ "CHF 350.00", or "€10.00 + $5.00", in the current language."""
    return " + ".join(format_money(int(minor), currency) for currency, minor in sums.items()) or format_money(0, "EUR")


def total(lines: Iterable[Priced]) -> str:
    """A sum of amounts, per currency: "CHF 350.00", or "€10.00 + $5.00" for a mixed balance."""
    return shown(per_currency(lines))


@dataclass(frozen=True)
class Attempt:
    """The latest attempt to settle a balance, when it did not pay."""

    kind: str  # "declined" | "unverified"
    card: str | None
    reason: str | None
    by: str | None


@dataclass(frozen=True)
class Awaiting:
    """A request above SETTLE_APPROVAL_ABOVE, waiting for another admin: settle, retry or paid."""

    request_id: int
    kind: str
    requested_by: str
    expires_at: datetime
    shown_amounts: dict[str, int]  # minor units per currency

    @property
    def amount(self) -> str:
        return shown(self.shown_amounts)


@dataclass(frozen=True)
class AlertCard:
    """An account's open balance as its alert shows it: every declined invoice, the latest decline."""

    alert_id: int
    account_id: str
    account_name: str
    invoices: tuple[InvoiceLine, ...]
    card_label: str | None  # the card of the latest decline
    declined_method_id: str | None
    reason: str
    outcome: str
    decline_count: int
    declined_at: datetime
    state: AlertState
    intended_channel: str | None = None  # set when posted to the fallback channel instead
    channel: str | None = None
    ts: str | None = None
    team_id: str | None = None  # the Slack workspace it was posted in (with OAuth)
    paid_at: datetime | None = None
    paid_by: str | None = None
    paid_with: str | None = None
    pending_by: str | None = None
    attempt_kind: str | None = None  # the latest settlement attempt, if it failed: see `last_attempt`
    attempt_card: str | None = None
    attempt_reason: str | None = None
    attempt_by: str | None = None
    attempt_at: datetime | None = None
    attempt: int | None = None  # the provider's attempt count of the latest decline
    next_attempt_at: datetime | None = None  # the provider's next automatic retry, if any
    retries_known: bool = False  # the provider says when it retries (Stripe): None then means "no more"
    test_mode: bool = False
    opened_at: datetime | None = None  # when the balance was first declined (the alert opened)
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    assignee: str | None = None
    assigned_by: str | None = None
    language: str = "en"  # the account's: channel alerts are in it
    bank_message: str | None = None  # the provider's words for the latest decline (plain text)
    asked_customer: str | None = None  # "pay" or "card": the customer was sent that page, by whom, when
    asked_by: str | None = None
    asked_at: datetime | None = None
    retry_at: datetime | None = None  # a retry on a date, scheduled by whom, with which card
    retry_by: str | None = None
    retry_card: str | None = None
    awaiting: tuple[Awaiting, ...] = ()  # requests waiting for another admin's approval, oldest first
    customer_channel: str | None = None  # told to the customer there (a channel shared with them), then;
    customer_told_at: datetime | None = None  # None with a channel: Slack would not take it there

    @property
    def last_attempt(self) -> Attempt | None:
        if self.attempt_kind is None:
            return None
        return Attempt(self.attempt_kind, self.attempt_card, self.attempt_reason, self.attempt_by)

    @property
    def last_declined_at(self) -> datetime:
        """The renewal's decline, or a later declined attempt to settle it."""
        if self.attempt_kind == "declined" and self.attempt_at and self.attempt_at > self.declined_at:
            return self.attempt_at
        return self.declined_at

    @property
    def paid_groups(self) -> list[tuple[str | None, str | None, str]]:
        """How a settled balance was paid: (who, with which card, how much) for each way it was, in
        the order the invoices are listed: one entry when one admin paid it all with one card."""
        groups: dict[tuple[str | None, str | None], list[InvoiceLine]] = {}
        for line in self.invoices:
            if line.state == InvoiceState.PAID:
                groups.setdefault((line.paid_by, line.paid_with), []).append(line)
        return [(by, with_, total(lines)) for (by, with_), lines in groups.items()]

    @property
    def open_invoices(self) -> tuple[InvoiceLine, ...]:
        return tuple(i for i in self.invoices if i.state == InvoiceState.OPEN)

    @property
    def owed(self) -> str:
        """What is still open."""
        return total(self.open_invoices)

    @property
    def amount(self) -> str:
        """The whole balance the alert is about (what is owed, or once settled what was paid)."""
        return total(self.open_invoices or self.invoices)

    @property
    def invoice_url(self) -> str | None:
        urls = [i.url for i in (self.open_invoices or self.invoices) if i.url]
        return urls[0] if urls else None


# Everything a card reads, loaded with the alerts themselves: one query for the alerts (with their
# account and latest decline joined) and one for all their invoices (with each one's latest decline).
CARD_LOAD: tuple[LoaderOption, ...] = (
    joinedload(Alert.account),
    joinedload(Alert.latest_decline),
    selectinload(Alert.invoices).joinedload(AlertInvoice.latest_decline),
    selectinload(Alert.scheduled_retry),
    selectinload(Alert.pending_approvals),
    selectinload(Alert.customer_notice),
)


def line_of(ai: AlertInvoice) -> InvoiceLine:
    return InvoiceLine(
        invoice_id=ai.invoice_id,
        description=ai.description or "",
        url=ai.url,
        amount_minor=ai.amount_minor,
        currency=ai.currency,
        decline_count=ai.decline_count,
        reason=ai.latest_decline.reason,
        paid=ai.state == InvoiceState.PAID,
        state=InvoiceState(ai.state),
        paid_by=ai.paid_by,
        paid_with=ai.paid_with,
    )


def alert_card(session: Session, alert: Alert) -> AlertCard:
    """One alert's card (its relations loaded now if they were not loaded with it)."""
    account = alert.account
    decline = alert.latest_decline
    intended = account.channel if alert.fallback_reason and account is not None and account.channel else None
    retry = alert.scheduled_retry
    notice = alert.customer_notice
    told = notice is not None and notice.ts is not None and notice.ts != UNPOSTABLE
    return AlertCard(
        alert_id=alert.id,
        account_id=alert.account_id,
        account_name=account.name if account else alert.account_id,
        invoices=tuple(line_of(ai) for ai in alert.invoices),
        card_label=card_label(decline.card_brand, decline.card_last4) if decline.card_last4 else None,
        declined_method_id=decline.payment_method_id,
        reason=decline.reason,
        outcome=decline.outcome,
        decline_count=alert.decline_count,
        declined_at=decline.failed_at,
        state=AlertState(alert.state),
        intended_channel=intended,
        channel=alert.channel,
        ts=alert.ts,
        team_id=alert.team_id,
        paid_at=alert.paid_at,
        paid_by=alert.paid_by,
        paid_with=alert.paid_with,
        pending_by=alert.pending_by,
        attempt_kind=alert.last_attempt,
        attempt_card=alert.last_attempt_card,
        attempt_reason=alert.last_attempt_reason,
        attempt_by=alert.last_attempt_by,
        attempt_at=alert.last_attempt_at,
        attempt=decline.attempt,
        next_attempt_at=decline.next_attempt_at,
        retries_known=decline.attempt is not None,
        test_mode=decline.test_mode,
        bank_message=decline.message,
        opened_at=alert.created_at,
        snoozed_until=alert.snoozed_until,
        snoozed_by=alert.snoozed_by,
        assignee=alert.assignee,
        assigned_by=alert.assigned_by,
        language=(account.locale if account and account.locale else "en"),
        asked_customer=alert.asked_customer,
        asked_by=alert.asked_by,
        asked_at=alert.asked_at,
        retry_at=retry.due_at if retry else None,
        retry_by=retry.scheduled_by if retry else None,
        retry_card=retry.card_label if retry else None,
        awaiting=tuple(
            Awaiting(r.id, r.kind, r.requested_by, r.expires_at, dict(r.amounts or {}))
            for r in alert.pending_approvals
            if r.expires_at > datetime.now(UTC)  # one past its time is expired, swept or not
        ),
        customer_channel=notice.channel if notice is not None and notice.ts is not None else None,
        customer_told_at=notice.created_at if notice is not None and told else None,  # when it was written
    )


def cards(session: Session, alert_ids: Sequence[int]) -> list[AlertCard]:
    """The cards of these alerts, in the order given: a constant number of queries for any number."""
    return [card for card, _ in cards_and_rows(session, alert_ids)]


def cards_and_rows(session: Session, alert_ids: Sequence[int]) -> list[tuple[AlertCard, Alert]]:
    """`cards`, each with its alert's row (held here: the session's identity map keeps rows only
    while someone does, and a row looked up again after it was let go costs a query)."""
    if not alert_ids:
        return []
    found = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(list(alert_ids))).options(*CARD_LOAD))}
    return [(alert_card(session, found[i]), found[i]) for i in alert_ids if i in found]


def card_of(session: Session, alert_id: int) -> AlertCard | None:
    found = cards(session, [alert_id])
    return found[0] if found else None
