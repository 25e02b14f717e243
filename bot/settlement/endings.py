"""A balance ended from Slack without charging a card: paid another way (a bank transfer, a cheque:
marked paid out of band at the provider), voided, or written off as uncollectible.

Authorised like settling, with a reason that is required and audited; refused while a settlement of
the balance is under way (money may be moving); applied at the provider invoice by invoice with an
idempotency key of its own, then recorded as the feed would record it, so the alert, its thread and
the monthly report follow."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import add_reply, close_invoice, sync_state
from bot.billing.base import BillingProvider
from bot.domain.errors import NotSettleable
from bot.domain.ports import Outbox
from bot.domain.records import ClosedAs
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from bot.domain.workspace import Requester
from bot.read.cards import AlertCard, card_of, per_currency
from bot.settlement.forms import deliver_now
from storage import audit
from storage.db import reading, transaction
from storage.models import Alert, AlertInvoice, Settlement

log = logging.getLogger(__name__)

Ending = Literal["paid", "voided", "uncollectible"]
# the action each is authorised and refused as (a refusal names it)
ENDINGS: tuple[Ending, ...] = ("paid", "voided", "uncollectible")
ACTIONS: dict[Ending, str] = {"paid": "paid_another_way", "voided": "void", "uncollectible": "write_off"}
STATES: dict[Ending, InvoiceState] = {
    "paid": InvoiceState.PAID,
    "voided": InvoiceState.VOIDED,
    "uncollectible": InvoiceState.UNCOLLECTIBLE,
}
MAX_REASON = 500
_MOVING = (SettlementStatus.CHARGING, SettlementStatus.REQUIRES_ACTION)  # a charge under way, or at the bank


class ReasonMissing(ValueError):
    """An ending needs a reason in words (it is audited and shown in the thread)."""


@dataclass(frozen=True)
class Ended:
    alert_id: int
    how: Ending
    invoices: tuple[str, ...]
    amounts: dict[str, int]  # minor units per currency


class Endings:
    def __init__(
        self, sessions: sessionmaker[Session], provider: BillingProvider, access: Authorizer, outbox: Outbox
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.access = access
        self.outbox = outbox

    def check(self, alert_id: int, who: Requester, how: Ending) -> AlertCard:
        """May `who` end this balance this way now? Its card for the form if so. (Asked before the
        form opens, and again when it is submitted.)"""
        self.access.authorize(who, alert_id, action=ACTIONS[how])
        with reading(self.sessions) as s:
            self._open_invoices(s, alert_id)
            card = card_of(s, alert_id)
        if card is None:
            raise NotSettleable("gone")
        return card

    def end(self, alert_id: int, who: Requester, how: Ending, reason: str) -> Ended:
        words = " ".join(reason.split())
        if not words:
            raise ReasonMissing("a reason is needed")
        words = words[:MAX_REASON]
        self.access.authorize(who, alert_id, action=ACTIONS[how])
        with reading(self.sessions) as s:
            invoices = self._open_invoices(s, alert_id)
        # at the provider first (it is the system of record), each with a key of its own: asked
        # again (a double submit, another replica), the provider answers as the first time
        for invoice_id, _amount, _currency in invoices:
            self.provider.end_invoice(invoice_id, how, idempotency_key=f"settle-end-{alert_id}-{invoice_id}-{how}")
        state: ClosedAs = how
        with transaction(self.sessions) as s:
            alert = s.get(Alert, alert_id, with_for_update=True)
            assert alert is not None
            closed = []
            for ai in s.scalars(
                select(AlertInvoice).where(AlertInvoice.alert_id == alert_id, AlertInvoice.state == InvoiceState.OPEN)
            ):
                if ai.invoice_id in {i for i, _a, _c in invoices} and close_invoice(
                    s, ai, STATES[how], source=f"settle:{state}", by=who.user_id
                ):
                    closed.append(ai)
            if not closed:  # another submission (or the feed) ended them a moment ago
                return Ended(alert_id, how, (), {})
            sync_state(s, alert)
            amounts = per_currency(closed)
            ids = tuple(ai.invoice_id for ai in closed)
            add_reply(s, alert_id, "ended", how=how, by=who.user_id, reason=words, invoices=list(ids), minor=amounts)
            audit.record(
                s,
                "balance_ended",
                actor=who.user_id or "unknown",
                account_id=alert.account_id,
                alert_id=alert_id,
                how=ACTIONS[how],
                reason=words,
                invoices=list(ids),
                amounts=amounts,
            )
        log.info("alert %s: %s by %s (%d invoice(s))", alert_id, ACTIONS[how], who.user_id, len(ids))
        deliver_now(self.outbox, alert_id)
        return Ended(alert_id, how, ids, amounts)

    @staticmethod
    def _open_invoices(s: Session, alert_id: int) -> list[tuple[str, int, str]]:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise NotSettleable("gone")
        if alert.state in ALERT_DONE:
            raise NotSettleable("paid" if alert.state == AlertState.PAID else "closed", by=alert.paid_by)
        open_ = [
            (ai.invoice_id, ai.amount_minor, ai.currency)
            for ai in s.scalars(
                select(AlertInvoice).where(AlertInvoice.alert_id == alert_id, AlertInvoice.state == InvoiceState.OPEN)
            )
        ]
        moving = s.scalar(
            select(Settlement.user_id)
            .where(Settlement.invoice_id.in_([i for i, _a, _c in open_]), Settlement.status.in_(_MOVING))
            .limit(1)
        )
        if moving is not None:
            raise NotSettleable("busy", by=moving)  # money may be moving: never end it beside a charge
        return open_
