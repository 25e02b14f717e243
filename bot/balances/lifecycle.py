"""The alert's rules: what state a balance is in, derived from its invoices and the settlements holding
them; how an invoice leaves it; the latest attempt to settle it. Every change bumps the alert's
version in the same transaction, so the deliverer brings its Slack message up to date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from storage import audit
from storage.changes import bump_messages
from storage.models import Alert, AlertInvoice, Message, Settlement

AttemptKind = Literal["declined", "unverified"]


def bump(session: Session, alert_id: int) -> None:
    """Mark an alert as changed so the deliverer re-renders it in Slack."""
    session.execute(update(Alert).where(Alert.id == alert_id).values(version=Alert.version + 1))


def record_attempt(alert: Alert, kind: AttemptKind, card: str | None, reason: str | None, by: str | None) -> None:
    """The latest settlement attempt, when it did not pay: declined, or never verified with the bank."""
    alert.last_attempt, alert.last_attempt_card = kind, card
    alert.last_attempt_reason, alert.last_attempt_by = reason, by
    alert.last_attempt_at = datetime.now(UTC)


def clear_attempt(alert: Alert) -> None:
    """A new attempt (or a new decline of the renewal) replaces the last one."""
    alert.last_attempt = alert.last_attempt_card = alert.last_attempt_reason = alert.last_attempt_by = None
    alert.last_attempt_at = None


def sync_state(session: Session, alert: Alert) -> None:
    """Derive the alert's state from its invoices and the settlements holding them, and bump it.

    Over once no invoice is open: paid if every one was, closed if some were voided or written off;
    else waiting for the bank while a verification is pending; else being settled while a charge
    is in flight; else open."""
    session.flush()
    # the customer's notice (if any) shows what is owed now: a part paid, voided, a renewal declined
    bump_messages(session, Message.alert_id == alert.id, Message.kind == "customer_notice")
    open_ids = [ai.invoice_id for ai in alert.invoices if ai.state == InvoiceState.OPEN]
    if not open_ids and alert.invoices:
        if alert.state not in ALERT_DONE:
            paid = [ai for ai in alert.invoices if ai.state == InvoiceState.PAID]
            done = all(ai.state == InvoiceState.PAID for ai in alert.invoices)
            alert.state = AlertState.PAID if done else AlertState.CLOSED
            last = max(paid, key=lambda ai: ai.paid_at or datetime.min.replace(tzinfo=UTC)) if paid else None
            alert.paid_at = (last.paid_at if last else None) or datetime.now(UTC)
            alert.paid_by, alert.paid_with = (last.paid_by, last.paid_with) if last else (None, None)
            alert.pending_by = None
            clear_attempt(alert)
            alert.remind_at, alert.escalate_at = None, None  # nothing left to follow up
            # an escalation posted elsewhere says the balance ended (its message is updated in place)
            bump_messages(session, Message.alert_id == alert.id, Message.kind == "escalation")
    else:
        holders = list(
            session.execute(
                select(Settlement.status, Settlement.user_id).where(
                    Settlement.invoice_id.in_(open_ids),
                    Settlement.status.in_((SettlementStatus.REQUIRES_ACTION, SettlementStatus.CHARGING)),
                )
            )
        )
        waiting = [user for status, user in holders if status == SettlementStatus.REQUIRES_ACTION]
        charging = [user for status, user in holders if status == SettlementStatus.CHARGING]
        if charging:
            alert.state, alert.pending_by = AlertState.SETTLING, charging[0]
        elif waiting:
            alert.state, alert.pending_by = AlertState.VERIFICATION_PENDING, waiting[0]
        else:
            alert.state, alert.pending_by = AlertState.OPEN, None
    session.flush()
    bump(session, alert.id)


def mark_invoice_paid(
    session: Session,
    ai: AlertInvoice,
    *,
    source: str,
    by: str | None = None,
    card: str | None = None,
    settlement_id: int | None = None,
) -> bool:
    """An invoice of the balance was paid (by a settlement, or outside Settle as the provider says):
    record it and re-derive the alert. False when it was already recorded."""
    if ai.state == InvoiceState.PAID:
        if by and ai.paid_by is None:  # the feed said "paid" first; now we know who paid it
            ai.paid_by, ai.paid_with = by, card
            alert = session.get(Alert, ai.alert_id, with_for_update=True)
            assert alert is not None
            if alert.state == AlertState.PAID and alert.paid_by is None:
                alert.paid_by, alert.paid_with = by, card
            sync_state(session, alert)
        return False
    return close_invoice(session, ai, InvoiceState.PAID, source=source, by=by, card=card, settlement_id=settlement_id)


def close_invoice(
    session: Session,
    ai: AlertInvoice,
    state: InvoiceState,
    *,
    source: str,
    by: str | None = None,
    card: str | None = None,
    settlement_id: int | None = None,
) -> bool:
    """An invoice left the balance: paid, voided or written off. False when it already had.

    A payment Settle saw wins over a void the feed reports late (the money moved)."""
    if ai.state != InvoiceState.OPEN:
        return False
    ai.state, ai.paid_at = state, datetime.now(UTC)
    if state == InvoiceState.PAID:
        ai.paid_by, ai.paid_with = by, card
    alert = session.get(Alert, ai.alert_id, with_for_update=True)
    assert alert is not None
    if source != "settlement":
        audit.record(
            session,
            "invoice_paid" if state == InvoiceState.PAID else f"invoice_{state.value}",
            account_id=alert.account_id,
            invoice_id=ai.invoice_id,
            amount_minor=ai.amount_minor,
            currency=ai.currency,
            source=source,
            settlement_id=settlement_id,
        )
    sync_state(session, alert)
    return True


def add_reply(session: Session, alert_id: int, kind: str, *, broadcast: bool = False, **detail: Any) -> None:
    """A thread reply under the alert (or its digest's), written to the outbox: posted once the alert's
    own message is in Slack."""
    session.add(
        Message(
            kind="reply",
            alert_id=alert_id,
            detail={"kind": kind, **detail},
            broadcast=broadcast,
            created_at=datetime.now(UTC),
        )
    )
