"""What the customer reads in a channel shared with them (Slack Connect): built from the few facts
meant for them, never from the internal alert's card, so nothing internal can reach the shared
channel by being added to the card later: no other accounts, no admins, no audit, no Settle controls
that act on the vendor's side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.domain.decline_reasons import Kind, kind_of
from bot.domain.states import AlertState, InvoiceState
from storage.models import Account, Alert


@dataclass(frozen=True)
class NoticeInvoice:
    amount_minor: int
    currency: str
    url: str | None  # the provider's own hosted page to pay it


@dataclass(frozen=True)
class CustomerNotice:
    name: str  # the account's own name (outside text: escaped where shown)
    language: str
    state: AlertState
    kind: Kind  # what the bank's reason means for the customer
    owed: dict[str, int]  # minor units per currency, still open
    paid: dict[str, int]  # minor units per currency, paid
    invoices: tuple[NoticeInvoice, ...]  # the open ones
    card_url: str | None  # the provider's page to add a new card (a card declined for good)


def customer_notice(
    s: Session, alert_id: int, card_link: Callable[[str], str | None] | None = None
) -> CustomerNotice | None:
    """`card_link` makes the provider's add-card page for the account, asked only for a card declined
    for good, at each rendering (a signed link with a lifetime of its own; no provider call)."""
    alert = s.get(Alert, alert_id)
    if alert is None:
        return None
    account = s.get(Account, alert.account_id)
    owed: dict[str, int] = {}
    paid: dict[str, int] = {}
    open_invoices = []
    for ai in alert.invoices:
        if ai.state == InvoiceState.OPEN:
            owed[ai.currency] = owed.get(ai.currency, 0) + ai.amount_minor
            open_invoices.append(NoticeInvoice(ai.amount_minor, ai.currency, ai.url))
        elif ai.state == InvoiceState.PAID:
            paid[ai.currency] = paid.get(ai.currency, 0) + ai.amount_minor
    kind = kind_of(alert.latest_decline.reason)
    card_url = card_link(alert.account_id) if card_link is not None and kind in ("hard", "expired") else None
    return CustomerNotice(
        name=account.name if account else "",
        language=(account.locale if account and account.locale else "en"),
        state=AlertState(alert.state),
        kind=kind,
        owed=owed,
        paid=paid,
        invoices=tuple(open_invoices),
        card_url=card_url,
    )
