"""The audit row for a step of a settlement: who, account, invoice, amount, card, provider ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage import audit
from storage.models import Settlement


def record_step(
    s: Session,
    action: str,
    st: Settlement,
    provider_ref: str | None = None,
    actor: str | None = None,
    **detail: Any,
) -> None:
    audit.record(
        s,
        action,
        actor=actor or st.user_id,
        account_id=st.account_id,
        invoice_id=st.invoice_id,
        amount_minor=st.amount_minor,
        currency=st.currency,
        payment_method=st.card_label,
        provider_ref=provider_ref or st.payment_id or st.payment_method_id,
        settlement_id=st.id,
        **detail,
    )
