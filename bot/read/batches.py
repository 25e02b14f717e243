"""A confirmation as the modal and the alert's thread tell it: one admin paying some of an alert's
invoices with one card, and where each invoice's settlement stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.money import format_money
from bot.domain.states import InvoiceState, SettlementStatus
from bot.read.cards import CARD_LOAD, InvoiceLine, line_of, total
from storage.models import Alert, AlertInvoice, Settlement, SettlementBatch


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
    card_label: str
    payment_method_id: str
    make_default: bool
    settlements: tuple[SettlementRecord, ...]
    still_owed: tuple[InvoiceLine, ...]  # the alert's invoices still open, whoever holds them
    alert_channel: str | None
    settled_at: datetime | None = None  # when its last payment went through
    team_id: str | None = None  # the workspace of its alert (with OAuth)
    language: str = "en"  # the account's

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

    @property
    def done(self) -> bool:
        """Its outcome is known (whatever it was): nothing is being charged or waiting for the bank."""
        return self.status not in (BatchStatus.PENDING, BatchStatus.CHARGING, BatchStatus.REQUIRES_ACTION)

    def with_status(self, *wanted: SettlementStatus) -> tuple[SettlementRecord, ...]:
        return tuple(st for st in self.settlements if st.status in wanted)

    @property
    def reason(self) -> str | None:
        """Why the card was declined (the first declined invoice's reason)."""
        failed = self.with_status(SettlementStatus.DECLINED, SettlementStatus.EXPIRED)
        return failed[0].reason if failed else None


def batch_records(session: Session, batches: list[SettlementBatch]) -> list[BatchRecord]:
    """The records of these confirmations: four queries however many (their alerts with accounts and
    invoices, their settlements, and the invoices those pay)."""
    if not batches:
        return []
    alert_ids = {b.alert_id for b in batches}
    alerts = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(alert_ids)).options(*CARD_LOAD))}
    rows = session.scalars(
        select(Settlement).where(Settlement.batch_id.in_([b.id for b in batches])).order_by(Settlement.id)
    ).all()
    descriptions = dict(
        session.execute(
            select(AlertInvoice.invoice_id, AlertInvoice.description).where(
                AlertInvoice.invoice_id.in_({st.invoice_id for st in rows})
            )
        ).all()
    )
    by_batch: dict[int, list[Settlement]] = {}
    for st in rows:
        by_batch.setdefault(st.batch_id or 0, []).append(st)
    out = []
    for batch in batches:
        alert = alerts[batch.alert_id]
        account = alert.account
        settlements = by_batch.get(batch.id, [])
        out.append(
            BatchRecord(
                id=batch.id,
                alert_id=batch.alert_id,
                account_id=alert.account_id,
                account_name=account.name if account else alert.account_id,
                user_id=batch.user_id,
                card_label=batch.card_label,
                payment_method_id=batch.payment_method_id,
                make_default=batch.make_default,
                settlements=tuple(_record(st, descriptions.get(st.invoice_id) or "") for st in settlements),
                still_owed=tuple(line_of(ai) for ai in alert.invoices if ai.state == InvoiceState.OPEN),
                alert_channel=alert.channel,
                team_id=alert.team_id,
                settled_at=max(
                    (st.updated_at for st in settlements if st.status == SettlementStatus.SUCCEEDED), default=None
                ),
                language=(account.locale if account and account.locale else "en"),
            )
        )
    return out


def batch_record(session: Session, batch: SettlementBatch) -> BatchRecord:
    return batch_records(session, [batch])[0]


def _record(st: Settlement, description: str) -> SettlementRecord:
    return SettlementRecord(
        id=st.id,
        batch_id=st.batch_id,
        alert_id=st.alert_id,
        account_id=st.account_id,
        invoice_id=st.invoice_id,
        invoice_description=description,
        amount_minor=st.amount_minor,
        currency=st.currency,
        card_label=st.card_label,
        payment_method_id=st.payment_method_id,
        user_id=st.user_id,
        status=SettlementStatus(st.status),
        reason=st.reason,
        verification_url=st.verification_url,
    )
