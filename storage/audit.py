"""Append audit rows inside the caller's transaction, so the record and the change commit together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent

SYSTEM = "settle"


def record(
    session: Session,
    action: str,
    *,
    actor: str = SYSTEM,
    account_id: str | None = None,
    invoice_id: str | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
    payment_method: str | None = None,
    provider_ref: str | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        account_id=account_id,
        invoice_id=invoice_id,
        amount_minor=amount_minor,
        currency=currency,
        payment_method=payment_method,
        provider_ref=provider_ref,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    session.add(event)
    return event


def list_events(session: Session, account_id: str | None = None, limit: int = 500) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if account_id:
        query = query.where(AuditEvent.account_id == account_id)
    return list(reversed(session.scalars(query).all()))
