"""A card warning before a renewal, as its message shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from storage.models import Account, CardWarning


@dataclass(frozen=True)
class WarningCard:
    id: int
    account_id: str
    account_name: str
    language: str
    renews_on: date
    reason: str  # expires | declined_before
    card_label: str
    amount_minor: int
    currency: str
    resolved_at: datetime | None
    resolved_how: str | None = None  # replaced (another card now) | declined (its alert took over)


def warning_card(s: Session, warning: CardWarning, account: Account | None = None) -> WarningCard:
    account = account if account is not None else s.get(Account, warning.account_id)
    return WarningCard(
        id=warning.id,
        account_id=warning.account_id,
        account_name=account.name if account else warning.account_id,
        language=(account.locale if account else None) or "en",
        renews_on=warning.renews_on,
        reason=warning.reason,
        card_label=warning.card_label,
        amount_minor=warning.amount_minor,
        currency=warning.currency,
        resolved_at=warning.resolved_at,
        resolved_how=warning.resolved_how,
    )
