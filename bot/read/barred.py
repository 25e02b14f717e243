"""The cards a balance must never be charged with again: declined for a reason that bars the card
(lost, stolen, fraud, blocked, not supported, expired), at renewal or when an admin tried it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.decline_reasons import KINDS
from bot.domain.states import SettlementStatus
from storage.models import AlertInvoice, Decline, Settlement

BARRING = sorted(code for code, kind in KINDS.items() if kind in ("hard", "expired"))


def barred_methods(s: Session, alert_id: int) -> frozenset[str]:
    """Two queries, whatever the balance's history."""
    invoices = select(AlertInvoice.invoice_id).where(AlertInvoice.alert_id == alert_id)
    at_renewal = s.scalars(
        select(Decline.payment_method_id).where(
            Decline.invoice_id.in_(invoices), Decline.reason.in_(BARRING), Decline.payment_method_id.is_not(None)
        )
    )
    tried = s.scalars(
        select(Settlement.payment_method_id).where(
            Settlement.alert_id == alert_id,
            Settlement.status == SettlementStatus.DECLINED,
            Settlement.reason.in_(BARRING),
        )
    )
    return frozenset(m for m in [*at_renewal, *tried] if m)
