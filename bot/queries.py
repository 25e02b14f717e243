"""The read model: what an alert, a settlement and the settle modal show, read from the database.

Builders render these records and nothing else; the alert, the modal, and later App Home,
/settle, reminders and the report all read through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.base import Invoice, PaymentMethod, card_label
from bot.money import format_money
from bot.states import AlertState, SettlementStatus
from storage.models import Account, Alert, Settlement


@dataclass(frozen=True)
class AlertCard:
    """One declined invoice as its alert shows it."""

    alert_id: int
    account_id: str
    account_name: str
    invoice_id: str
    invoice_description: str
    invoice_url: str | None
    amount_minor: int
    currency: str
    card_label: str | None
    declined_method_id: str | None
    reason: str
    outcome: str
    decline_count: int
    declined_at: datetime
    state: AlertState
    intended_channel: str | None = None  # set when posted to the fallback channel instead
    channel: str | None = None
    ts: str | None = None
    paid_at: datetime | None = None
    paid_by: str | None = None
    paid_with: str | None = None
    pending_by: str | None = None
    note: str | None = None  # plain text: how the last settlement attempt ended, if it failed
    note_by: str | None = None

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)


@dataclass(frozen=True)
class SettlementRecord:
    """One admin's settlement of one invoice, with what its modal and outcome messages need."""

    id: int
    alert_id: int
    account_id: str
    account_name: str
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
    make_default: bool
    view_id: str | None
    alert_channel: str | None
    alert_ts: str | None

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)


@dataclass(frozen=True)
class SettleContext:
    """Everything the settle modal shows: the alert, the invoice as the provider has it now, the
    account's payment methods, and a settlement already holding the invoice, if any."""

    alert: AlertCard
    invoice: Invoice
    methods: list[PaymentMethod]
    add_method_url: str | None
    in_flight: SettlementRecord | None

    @property
    def amount(self) -> str:
        return format_money(self.invoice.amount_minor, self.invoice.currency)


def alert_card(session: Session, alert: Alert) -> AlertCard:
    account = session.get(Account, alert.account_id)
    decline = alert.latest_decline
    intended = None
    if alert.fallback_reason and account is not None and account.slack_channel:
        intended = account.slack_channel
    return AlertCard(
        alert_id=alert.id,
        account_id=alert.account_id,
        account_name=account.name if account else alert.account_id,
        invoice_id=alert.invoice_id,
        invoice_description=alert.invoice_description or "",
        invoice_url=alert.invoice_url,
        amount_minor=decline.amount_minor,
        currency=decline.currency,
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
        paid_at=alert.paid_at,
        paid_by=alert.paid_by,
        paid_with=alert.paid_with,
        pending_by=alert.pending_by,
        note=alert.note,
        note_by=alert.note_by,
    )


def settlement_record(session: Session, st: Settlement) -> SettlementRecord:
    alert = session.get(Alert, st.alert_id)
    account = session.get(Account, st.account_id)
    return SettlementRecord(
        id=st.id,
        alert_id=st.alert_id,
        account_id=st.account_id,
        account_name=account.name if account else st.account_id,
        invoice_id=st.invoice_id,
        invoice_description=alert.invoice_description if alert else "",
        amount_minor=st.amount_minor,
        currency=st.currency,
        card_label=st.card_label,
        payment_method_id=st.payment_method_id,
        user_id=st.user_id,
        status=SettlementStatus(st.status),
        reason=st.reason,
        verification_url=st.verification_url,
        make_default=st.make_default,
        view_id=st.view_id,
        alert_channel=alert.channel if alert else None,
        alert_ts=alert.ts if alert else None,
    )


def open_alerts(session: Session, account_id: str | None = None) -> list[AlertCard]:
    """Alerts whose invoice is still unpaid, oldest first."""
    query = select(Alert).where(Alert.state != AlertState.PAID).order_by(Alert.id)
    if account_id is not None:
        query = query.where(Alert.account_id == account_id)
    return [alert_card(session, a) for a in session.scalars(query)]
