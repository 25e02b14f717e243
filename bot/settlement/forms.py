"""What the settle form offers: the balance, its open invoices as the provider has them now, the
account's cards, and a confirmation already holding one of them. Read afresh, and authorised
afresh, every time a form is filled."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import close_invoice
from bot.billing.base import BillingProvider
from bot.domain.chat import SlackError
from bot.domain.errors import NotSettleable
from bot.domain.ports import Outbox
from bot.domain.records import Invoice
from bot.domain.states import AlertState, InvoiceState, SettlementStatus
from bot.domain.workspace import Requester
from bot.read.barred import barred_methods
from bot.read.batches import batch_record
from bot.read.cards import card_of
from bot.read.context import SettleContext
from storage import audit
from storage.db import reading, transaction
from storage.models import AlertInvoice, Settlement, SettlementBatch

log = logging.getLogger(__name__)

_CLOSED = {"paid": InvoiceState.PAID, "voided": InvoiceState.VOIDED, "uncollectible": InvoiceState.UNCOLLECTIBLE}


class SettleForms:
    def __init__(
        self, sessions: sessionmaker[Session], provider: BillingProvider, access: Authorizer, outbox: Outbox
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.access = access
        self.outbox = outbox

    def context(self, alert_id: int, who: Requester, card_ref: str, *, preselect: str | None = None) -> SettleContext:
        """`card_ref` comes back with the provider's notice when a card is added on its page."""
        self.access.authorize(who, alert_id)
        with reading(self.sessions) as s:
            card = card_of(s, alert_id)
            if card is None:
                raise NotSettleable("gone")
            holder = s.scalar(
                select(Settlement)
                .where(
                    Settlement.invoice_id.in_([i.invoice_id for i in card.open_invoices]),
                    Settlement.status.in_((SettlementStatus.CHARGING, SettlementStatus.REQUIRES_ACTION)),
                    Settlement.batch_id.is_not(None),
                )
                .order_by(Settlement.id.desc())
            )
            batch = s.get(SettlementBatch, holder.batch_id) if holder is not None and holder.batch_id else None
            in_flight = batch_record(s, batch) if batch is not None else None
            barred = barred_methods(s, alert_id)
        if card.state == AlertState.PAID:
            raise NotSettleable("paid", by=card.paid_by)
        if card.state == AlertState.CLOSED:
            raise NotSettleable("closed")
        invoices = self.open_invoices(alert_id, [i.invoice_id for i in card.open_invoices])
        return SettleContext(
            alert=card,
            invoices=invoices,
            methods=self.provider.list_payment_methods(card.account_id),
            add_method_url=self.provider.add_method_url(card.account_id, card_ref),
            in_flight=in_flight,
            preselect_method_id=preselect,
            barred=barred,
        )

    def record_form_opened(self, ctx: SettleContext, who: Requester) -> None:
        with transaction(self.sessions) as s:
            audit.record(
                s,
                "settle_form_opened",
                actor=who.user_id or "unknown",
                account_id=ctx.alert.account_id,
                amount_minor=sum(i.amount_minor for i in ctx.invoices),
                currency=ctx.invoices[0].currency if ctx.invoices else None,
                alert_id=ctx.alert.alert_id,
                invoices=[i.id for i in ctx.invoices],
                methods=len(ctx.methods),
            )

    def open_invoices(self, alert_id: int, invoice_ids: list[str]) -> list[Invoice]:
        """The invoices as the provider has them now; any paid meanwhile is recorded as paid and left
        out. NotSettleable when none is left to pay."""
        invoices: list[Invoice] = []
        closed_as: list[InvoiceState] = []
        for invoice_id in invoice_ids:
            invoice = self.provider.get_invoice(invoice_id)
            if invoice is not None and invoice.status in _CLOSED:
                with transaction(self.sessions) as s:
                    ai = s.scalar(select(AlertInvoice).where(AlertInvoice.invoice_id == invoice_id).with_for_update())
                    if ai is not None and close_invoice(s, ai, _CLOSED[invoice.status], source="provider"):
                        closed_as.append(_CLOSED[invoice.status])
            elif invoice is not None and invoice.status == "open":
                invoices.append(invoice)
        if closed_as:
            deliver_now(self.outbox, alert_id)
        if not invoices:
            if not closed_as:
                raise NotSettleable("gone")
            raise NotSettleable("paid" if set(closed_as) == {InvoiceState.PAID} else "closed")
        return invoices


def deliver_now(outbox: Outbox, alert_id: int) -> None:
    """The alert shows the change now; if Slack does not take it, the next poll does."""
    try:
        outbox.deliver(alert_id)
    except SlackError as exc:
        log.warning("alert %s not updated now (%s); the poller will retry", alert_id, exc.code)
