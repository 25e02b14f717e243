"""A balance ended from Slack without charging a card: paid another way (a bank transfer, a cheque:
marked paid out of band at the provider), voided, or written off as uncollectible.

Authorised like settling, with a reason that is required and audited; refused while a settlement of
the balance is under way (money may be moving); applied at the provider invoice by invoice with an
idempotency key of its own, then recorded as the feed would record it, so the alert, its thread and
the monthly report follow."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import add_reply, close_invoice
from bot.billing.base import BillingProvider
from bot.domain.errors import BillingError, NotSettleable, ProviderUnavailable
from bot.domain.ports import Outbox
from bot.domain.states import ALERT_DONE, PAID_ANOTHER_WAY, AlertState, InvoiceState, SettlementStatus
from bot.domain.workspace import Requester
from bot.read.cards import AlertCard, card_of, per_currency
from bot.settlement.approvals import OFF, ApprovalPolicy
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


class BalanceChanged(ValueError):
    """The open invoices are not the ones the confirmation showed (a renewal declined meanwhile, one
    paid): the admin confirms again what is open now."""


@dataclass(frozen=True)
class Ended:
    alert_id: int
    how: Ending
    invoices: tuple[str, ...]
    amounts: dict[str, int]  # minor units per currency
    not_ended: tuple[str, ...] = ()  # left open: the provider refused or did not answer
    error: Exception | None = None
    awaiting: int | None = None  # above the approval threshold: the request another admin decides


def fingerprint(invoice_ids: list[str]) -> str:
    """What a confirmation showed, carried with it: the open invoices, as a short digest."""
    return hashlib.sha256(",".join(sorted(invoice_ids)).encode()).hexdigest()[:12]


class Endings:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        access: Authorizer,
        outbox: Outbox,
        approvals: ApprovalPolicy = OFF,
    ) -> None:
        self.approvals = approvals
        self.sessions = sessions
        self.provider = provider
        self.access = access
        self.outbox = outbox

    def check(self, alert_id: int, who: Requester, how: Ending) -> tuple[AlertCard, str]:
        """May `who` end this balance this way now? Its card for the form, and the fingerprint of
        the invoices it shows. (Asked before the form opens, and again when it is submitted.)"""
        self.access.authorize(who, alert_id, action=ACTIONS[how])
        with reading(self.sessions) as s:
            invoices = self._open_invoices(s, alert_id)
            card = card_of(s, alert_id)
        if card is None:
            raise NotSettleable("gone")
        return card, fingerprint([ai.invoice_id for ai in invoices])

    def end(
        self, alert_id: int, who: Requester, how: Ending, reason: str, shown: str, *, approved: bool = False
    ) -> Ended:
        """End the invoices the confirmation showed (`shown`, their fingerprint). They are claimed
        first, under the alert's lock: no charge is confirmed beside a claimed invoice, and an
        invoice being charged is not claimed. Each is recorded as soon as the provider has ended it,
        so a provider failure halfway leaves the truth on both sides."""
        words = " ".join(reason.split())
        if not words:
            raise ReasonMissing("a reason is needed")
        words = words[:MAX_REASON]
        self.access.authorize(who, alert_id, action=ACTIONS[how])
        awaiting: int | None = None
        with transaction(self.sessions) as s:
            alert = s.get(Alert, alert_id, with_for_update=True)
            claimed = self._open_invoices(s, alert_id)
            if fingerprint([ai.invoice_id for ai in claimed]) != shown:
                raise BalanceChanged("the open invoices changed")
            amounts = per_currency(claimed)
            if how == "paid" and not approved and self.approvals.needed(amounts):
                assert alert is not None  # money marked received above the threshold: a second pair of eyes
                awaiting = self.approvals.request(s, "paid", alert, who, amounts, reason=words, shown=shown).id
                claimed = []
            for ai in claimed:
                ai.ending_how, ai.ending_by = how, who.user_id
            targets = [(ai.invoice_id, ai.id) for ai in claimed]
            account_id = alert.account_id if alert is not None else None
        if awaiting is not None:
            deliver_now(self.outbox, alert_id)
            return Ended(alert_id, how, (), amounts, awaiting=awaiting)
        ended: list[str] = []
        not_ended: list[str] = []
        error: Exception | None = None
        for invoice_id, row_id in targets:
            if error is None:
                try:
                    key = f"settle-end-{alert_id}-{invoice_id}-{how}"
                    self.provider.end_invoice(invoice_id, how, idempotency_key=key)
                except (BillingError, ProviderUnavailable) as exc:
                    error = exc
            with transaction(self.sessions) as s:
                row = s.get(AlertInvoice, row_id, with_for_update=True)
                assert row is not None
                if error is None:
                    # recorded now (or by the provider's event a moment ago, as the admin's)
                    paid_with = PAID_ANOTHER_WAY if how == "paid" else None
                    close_invoice(s, row, STATES[how], source=f"settle:{how}", by=who.user_id, card=paid_with)
                    ended.append(invoice_id)
                else:
                    not_ended.append(invoice_id)
                row.ending_how = row.ending_by = None
        with transaction(self.sessions) as s:
            lines = list(s.scalars(select(AlertInvoice).where(AlertInvoice.invoice_id.in_(ended)))) if ended else []
            amounts = per_currency(lines)
            if ended:
                add_reply(s, alert_id, "ended", how=how, by=who.user_id, reason=words, invoices=ended, minor=amounts)
            audit.record(
                s,
                "balance_ended" if ended else "balance_end_failed",
                actor=who.user_id or "unknown",
                account_id=account_id,
                alert_id=alert_id,
                how=ACTIONS[how],
                reason=words,
                invoices=ended,
                not_ended=not_ended,
                amounts=amounts,
                error=str(error) if error else None,
            )
        log.info(
            "alert %s: %s by %s (%d ended, %d not)", alert_id, ACTIONS[how], who.user_id, len(ended), len(not_ended)
        )
        deliver_now(self.outbox, alert_id)
        return Ended(alert_id, how, tuple(ended), amounts, tuple(not_ended), error)

    @staticmethod
    def _open_invoices(s: Session, alert_id: int) -> list[AlertInvoice]:
        """The invoices an ending would end; refused when there are none, or one is being charged
        or at the bank (money may be moving), or another ending has them."""
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise NotSettleable("gone")
        if alert.state in ALERT_DONE:
            raise NotSettleable("paid" if alert.state == AlertState.PAID else "closed", by=alert.paid_by)
        open_ = list(
            s.scalars(
                select(AlertInvoice).where(AlertInvoice.alert_id == alert_id, AlertInvoice.state == InvoiceState.OPEN)
            )
        )
        ending = next((ai.ending_by for ai in open_ if ai.ending_how), None)
        moving = s.scalar(
            select(Settlement.user_id)
            .where(Settlement.invoice_id.in_([ai.invoice_id for ai in open_]), Settlement.status.in_(_MOVING))
            .limit(1)
        )
        if moving is not None or any(ai.ending_how for ai in open_):
            raise NotSettleable("busy", by=moving or ending)  # never end it beside a charge or another ending
        if not open_:
            raise NotSettleable("closed")
        return open_
