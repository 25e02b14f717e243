"""The read model: what an alert, a confirmation and the settle modal show, read from the database.

Builders render these records and nothing else; the alert, the modal, and later App Home,
/settle, reminders and the report all read through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.base import Invoice, PaymentMethod, card_label
from bot.domain.money import format_money
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from storage.models import Account, Alert, AlertInvoice, Settlement, SettlementBatch


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


def total(lines: Iterable[Priced]) -> str:
    """A sum of amounts, per currency: "CHF 350.00", or "€10.00 + $5.00" for a mixed balance."""
    sums: dict[str, int] = {}
    for line in lines:
        sums[line.currency] = sums.get(line.currency, 0) + line.amount_minor
    return " + ".join(format_money(minor, currency) for currency, minor in sums.items()) or format_money(0, "EUR")


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
    note: str | None = None  # plain text: how the last settlement attempt ended, if it failed
    note_by: str | None = None
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


@dataclass(frozen=True)
class SettlementRecord:
    """One invoice's settlement within a confirmation."""

    id: int
    batch_id: int | None
    alert_id: int
    account_id: str
    invoice_id: str
    invoice_description: str
    amount_minor: int
    currency: str
    card_label: str
    payment_method_id: str
    user_id: str
    status: SettlementStatus
    reason: str | None
    verification_url: str | None

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)

    def as_line(self) -> InvoiceLine:
        """The invoice this settlement pays, as an alert lists it."""
        return InvoiceLine(
            self.invoice_id, self.invoice_description, None, self.amount_minor, self.currency, 0, "", False
        )


class BatchStatus(StrEnum):
    PENDING = "pending"
    CHARGING = "charging"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some invoices paid, some declined
    DECLINED = "declined"


@dataclass(frozen=True)
class BatchRecord:
    """One confirmation: an admin paying some of an alert's invoices with one card."""

    id: int
    alert_id: int
    account_id: str
    account_name: str
    user_id: str
    view_id: str | None
    card_label: str
    payment_method_id: str
    make_default: bool
    settlements: tuple[SettlementRecord, ...]
    still_owed: tuple[InvoiceLine, ...]  # the alert's invoices still open, whoever holds them
    alert_channel: str | None
    settled_at: datetime | None = None  # when its last payment went through
    team_id: str | None = None  # the workspace of its alert (with OAuth)

    @property
    def amount(self) -> str:
        return total(self.settlements)

    @property
    def status(self) -> BatchStatus:
        statuses = {st.status for st in self.settlements}
        if SettlementStatus.CHARGING in statuses:
            return BatchStatus.CHARGING
        if SettlementStatus.REQUIRES_ACTION in statuses:
            return BatchStatus.REQUIRES_ACTION
        if statuses <= {SettlementStatus.PENDING}:
            return BatchStatus.PENDING
        if statuses == {SettlementStatus.SUCCEEDED}:
            return BatchStatus.SUCCEEDED
        if SettlementStatus.SUCCEEDED in statuses:
            return BatchStatus.PARTIAL
        return BatchStatus.DECLINED

    def with_status(self, *wanted: SettlementStatus) -> tuple[SettlementRecord, ...]:
        return tuple(st for st in self.settlements if st.status in wanted)

    @property
    def reason(self) -> str | None:
        """Why the card was declined (the first declined invoice's reason)."""
        failed = self.with_status(SettlementStatus.DECLINED, SettlementStatus.EXPIRED)
        return failed[0].reason if failed else None


@dataclass(frozen=True)
class SettleContext:
    """Everything the settle modal shows: the alert, its open invoices as the provider has them
    now, the account's payment methods, and a confirmation already holding one of them, if any."""

    alert: AlertCard
    invoices: list[Invoice]
    methods: list[PaymentMethod]
    add_method_url: str | None
    in_flight: BatchRecord | None
    preselect_method_id: str | None = None  # a card just added on the provider's page

    @property
    def amount(self) -> str:
        return total(self.invoices)


def _line(ai: AlertInvoice) -> InvoiceLine:
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
    account = session.get(Account, alert.account_id)
    decline = alert.latest_decline
    intended = None
    if alert.fallback_reason and account is not None and account.channel:
        intended = account.channel
    return AlertCard(
        alert_id=alert.id,
        account_id=alert.account_id,
        account_name=account.name if account else alert.account_id,
        invoices=tuple(_line(ai) for ai in alert.invoices),
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
        note=alert.note,
        note_by=alert.note_by,
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
    )


def settlement_record(session: Session, st: Settlement) -> SettlementRecord:
    ai = session.scalar(select(AlertInvoice).where(AlertInvoice.invoice_id == st.invoice_id))
    return SettlementRecord(
        id=st.id,
        batch_id=st.batch_id,
        alert_id=st.alert_id,
        account_id=st.account_id,
        invoice_id=st.invoice_id,
        invoice_description=ai.description if ai else "",
        amount_minor=st.amount_minor,
        currency=st.currency,
        card_label=st.card_label,
        payment_method_id=st.payment_method_id,
        user_id=st.user_id,
        status=SettlementStatus(st.status),
        reason=st.reason,
        verification_url=st.verification_url,
    )


def batch_record(session: Session, batch: SettlementBatch) -> BatchRecord:
    alert = session.get(Alert, batch.alert_id)
    assert alert is not None
    account = session.get(Account, alert.account_id)
    settlements = session.scalars(
        select(Settlement).where(Settlement.batch_id == batch.id).order_by(Settlement.id)
    ).all()
    return BatchRecord(
        id=batch.id,
        alert_id=batch.alert_id,
        account_id=alert.account_id,
        account_name=account.name if account else alert.account_id,
        user_id=batch.user_id,
        view_id=batch.view_id,
        card_label=batch.card_label,
        payment_method_id=batch.payment_method_id,
        make_default=batch.make_default,
        settlements=tuple(settlement_record(session, st) for st in settlements),
        still_owed=tuple(_line(ai) for ai in alert.invoices if ai.state == InvoiceState.OPEN),
        alert_channel=alert.channel,
        team_id=alert.team_id,
        settled_at=max((st.updated_at for st in settlements if st.status == SettlementStatus.SUCCEEDED), default=None),
    )


def open_alerts(session: Session, account_id: str | None = None) -> list[AlertCard]:
    """Balances still unpaid, oldest first."""
    query = select(Alert).where(Alert.state.not_in(ALERT_DONE)).order_by(Alert.id)
    if account_id is not None:
        query = query.where(Alert.account_id == account_id)
    return [alert_card(session, a) for a in session.scalars(query)]


@dataclass(frozen=True)
class BalanceFinding:
    """What `/settle ACCOUNT` found: the open balances the caller may settle among the best matches,
    the names of matching accounts whose balances the caller may not settle, and whether any account
    matched at all (an open balance or not)."""

    allowed: tuple[AlertCard, ...]
    refused: tuple[AlertCard, ...]
    known_account: str | None  # the name of an account that matched, when none has an open balance


@dataclass(frozen=True)
class Balances:
    """The open balances someone may settle: the first few as cards, and all of them counted."""

    cards: list[AlertCard]
    count: int  # how many this person may settle
    open_total: int  # how many are open in all
    totals: tuple[tuple[str, int], ...]  # (currency, minor units) they owe, all of them
