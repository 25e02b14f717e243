"""A confirmation: an admin picks a card and the invoices to pay (all of the balance by default). That
is a batch, and each invoice in it is a settlement with its own idempotency key. Confirming claims
each settlement (pending -> charging) with a conditional update, so however many submissions arrive
each invoice is charged at most once; a partial unique index allows one settlement per invoice in
flight or done."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import clear_attempt, sync_state
from bot.billing.base import BillingProvider
from bot.domain.errors import InvalidChoice, NotSettleable, Refused
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from bot.domain.workspace import Requester
from bot.read.barred import barred_methods
from bot.read.batches import BatchRecord, BatchStatus, batch_record
from bot.read.cards import per_currency
from bot.settlement.approvals import OFF, ApprovalPolicy
from bot.settlement.forms import SettleForms, deliver_now
from bot.settlement.trail import record_step
from storage import audit
from storage.db import reading, transaction
from storage.models import Alert, AlertInvoice, Settlement, SettlementBatch

log = logging.getLogger(__name__)

NOT_YOURS = "This confirmation belongs to another admin's session; nothing was charged."


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Literal["claimed", "duplicate", "busy", "approval"]
    batch: BatchRecord
    request_id: int | None = None  # "approval": the request another admin approves or rejects


class Batches:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        access: Authorizer,
        forms: SettleForms,
        approvals: ApprovalPolicy = OFF,
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.access = access
        self.forms = forms
        self.approvals = approvals

    def get(self, batch_id: int) -> BatchRecord:
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            if batch is None:
                raise NotSettleable("gone")
            return batch_record(s, batch)

    def authorized(self, batch_id: int, who: Requester) -> int:
        """The batch's alert, once this user may act on it (re-checked on the server every time)."""
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            if batch is None:
                raise NotSettleable("gone")
            alert_id = batch.alert_id
        self.access.authorize(who, alert_id)
        return alert_id

    def choose(
        self, alert_id: int, who: Requester, method_id: str, invoice_ids: list[str] | None, *, off_session: bool = False
    ) -> BatchRecord:
        """A batch of pending settlements, one per chosen invoice (every open one when None);
        `off_session` for a scheduled retry (no one is at the card)."""
        self.access.authorize(who, alert_id)
        user_id = who.user_id or ""
        with reading(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            if alert.state in ALERT_DONE:
                raise NotSettleable("paid" if alert.state == AlertState.PAID else "closed")
            account_id = alert.account_id
            open_ids = [ai.invoice_id for ai in alert.invoices if ai.state == InvoiceState.OPEN]
            if method_id in barred_methods(s, alert_id):  # declined for good: never charged again
                raise InvalidChoice(method_id)
        chosen = open_ids if invoice_ids is None else [i for i in open_ids if i in set(invoice_ids)]
        if invoice_ids is not None and len(chosen) != len(set(invoice_ids)):
            raise InvalidChoice("invoices")
        if not chosen:
            raise InvalidChoice("no invoice")
        invoices = self.forms.open_invoices(alert_id, chosen)
        method = next((m for m in self.provider.list_payment_methods(account_id) if m.id == method_id), None)
        if method is None:
            raise InvalidChoice(method_id)
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            batch = SettlementBatch(
                alert_id=alert_id,
                user_id=user_id,
                payment_method_id=method.id,
                card_label=method.card.label,
                make_default=False,
                created_at=now,
            )
            s.add(batch)
            s.flush()
            for invoice in invoices:
                st = Settlement(
                    alert_id=alert_id,
                    batch_id=batch.id,
                    invoice_id=invoice.id,
                    account_id=account_id,
                    user_id=user_id,
                    payment_method_id=method.id,
                    card_label=method.card.label,
                    amount_minor=invoice.amount_minor,
                    currency=invoice.currency,
                    make_default=False,
                    off_session=off_session,
                    idempotency_key=f"settle-{uuid.uuid4()}",
                    status=SettlementStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                )
                s.add(st)
                s.flush()
                record_step(s, "method_chosen", st, provider_ref=method.id, batch_id=batch.id)
            log.info(
                "batch %s: %s chose %s for alert %s, invoices %s",
                batch.id, user_id, method.id, alert_id, ",".join(i.id for i in invoices),
            )  # fmt: skip
            return batch_record(s, batch)

    def confirm(
        self,
        batch_id: int,
        who: Requester,
        make_default: bool,
        *,
        same_session: bool = True,
        approved: bool = False,
    ) -> ConfirmResult:
        """`same_session`: the confirmation comes from the modal the batch was chosen in (the Slack
        side knows); a confirmation from another admin, or another session, charges nothing. Above
        SETTLE_APPROVAL_ABOVE it becomes a request for another admin's approval, unless `approved`
        (the approval desk carrying out an approved request, a retry approved when it was scheduled)."""
        alert_id = self.authorized(batch_id, who)
        result = self._confirm(batch_id, alert_id, who, make_default, same_session, approved)
        if result.outcome == "approval":  # the alert and its thread say it waits, and who decides
            deliver_now(self.forms.outbox, alert_id)
        return result

    def _confirm(
        self,
        batch_id: int,
        alert_id: int,
        who: Requester,
        make_default: bool,
        same_session: bool,
        approved: bool,
    ) -> ConfirmResult:
        with transaction(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id, with_for_update=True)
            assert batch is not None
            if batch.user_id != who.user_id or not same_session:
                audit.record(
                    s,
                    "settle_refused",
                    actor=who.user_id or "unknown",
                    account_id=None,
                    alert_id=alert_id,
                    batch_id=batch_id,
                    why="not this user's confirmation",
                )
                raise Refused(None, NOT_YOURS)
            pending = list(
                s.scalars(
                    select(Settlement).where(
                        Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.PENDING
                    )
                )
            )
            if not pending:
                return ConfirmResult("duplicate", batch_record(s, batch))
            # under the alert's lock, as an ending takes it: an invoice ended (or being ended) since
            # the card was chosen is never charged
            alert = s.get(Alert, alert_id, with_for_update=True)
            held = s.scalars(
                select(AlertInvoice).where(
                    AlertInvoice.invoice_id.in_([st.invoice_id for st in pending]),
                    or_(AlertInvoice.state != InvoiceState.OPEN, AlertInvoice.ending_how.is_not(None)),
                )
            ).first()
            if held is not None:
                if held.ending_how:
                    raise NotSettleable("busy", by=held.ending_by)
                paid = held.state == InvoiceState.PAID
                raise NotSettleable("paid" if paid else "closed", by=held.paid_by if paid else None)
            amounts = per_currency(pending)
            assert alert is not None
            # the whole open balance counts: charging it an invoice at a time needs the same approval
            balance = per_currency(ai for ai in alert.invoices if ai.state == InvoiceState.OPEN)
            if not approved and self.approvals.needed(balance):
                request = self.approvals.request(
                    s,
                    "settle",
                    alert,
                    who,
                    amounts,
                    batch_id=batch_id,
                    make_default=make_default,
                    card_label=batch.card_label,
                )
                log.info("batch %s: above the approval threshold, request %s", batch_id, request.id)
                return ConfirmResult("approval", batch_record(s, batch), request.id)
            batch.make_default = make_default
            claimed = self._claim(s, pending, make_default)
            s.expire_all()  # the claims above were Core updates: read every row afresh
            alert = s.get(Alert, alert_id, with_for_update=True)
            assert alert is not None
            if claimed:
                clear_attempt(alert)
            sync_state(s, alert)
            batch = s.get(SettlementBatch, batch_id)
            assert batch is not None
            record = batch_record(s, batch)
        log.info("batch %s: confirmed by %s, %d invoice(s) claimed", batch_id, who.user_id, claimed)
        # No Slack call here: the caller acknowledges Slack first, then charges.
        if claimed == 0:
            return ConfirmResult("busy" if record.status != BatchStatus.PENDING else "duplicate", record)
        return ConfirmResult("claimed", record)

    @staticmethod
    def _claim(s: Session, pending: list[Settlement], make_default: bool) -> int:
        now = datetime.now(UTC)
        claimed = 0
        for st in pending:
            try:
                with s.begin_nested():
                    won = cast(
                        CursorResult[Any],
                        s.execute(
                            update(Settlement)
                            .where(Settlement.id == st.id, Settlement.status == SettlementStatus.PENDING)
                            .values(status=SettlementStatus.CHARGING, make_default=make_default, updated_at=now)
                            .execution_options(synchronize_session=False)
                        ),
                    ).rowcount
            except IntegrityError:  # another settlement holds this invoice (another admin, a replica)
                won = 0
                s.execute(
                    update(Settlement)
                    .where(Settlement.id == st.id, Settlement.status == SettlementStatus.PENDING)
                    .values(status=SettlementStatus.DECLINED, reason="held_elsewhere", updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            if won == 1:
                claimed += 1
                record_step(s, "charge_confirmed", st, make_default=make_default, idempotency_key=st.idempotency_key)
        s.flush()
        return claimed
