"""Where money moves: each claimed invoice charged with its own idempotency key, its outcome recorded
once, and the confirmation finished (the default card, the alert, whoever is looking)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.card_warnings import card_replaced
from bot.balances.lifecycle import add_reply, mark_invoice_paid, record_attempt, sync_state
from bot.billing.base import BillingProvider
from bot.domain.errors import BillingError, ChargeOutcomeUnknown, NotSettleable, ProviderUnavailable
from bot.domain.ports import Outbox
from bot.domain.records import PaymentResult
from bot.domain.states import SettlementStatus
from bot.observe.metrics import SETTLEMENTS
from bot.read.batches import BatchRecord, BatchStatus, batch_record
from bot.read.cards import per_currency
from bot.settlement.events import SettlementEvents
from bot.settlement.forms import deliver_now
from bot.settlement.trail import record_step
from storage import audit
from storage.db import reading, transaction
from storage.models import Alert, AlertInvoice, Settlement, SettlementBatch

log = logging.getLogger(__name__)


class Charger:
    def __init__(
        self, sessions: sessionmaker[Session], provider: BillingProvider, outbox: Outbox, events: SettlementEvents
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.outbox = outbox
        self.events = events

    def charge(self, batch_id: int) -> BatchRecord:
        """Charge every claimed invoice of the batch, one after another, then tell the admin once."""
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            if batch is None:
                raise NotSettleable("gone")
            ids = list(
                s.scalars(
                    select(Settlement.id)
                    .where(Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.CHARGING)
                    .order_by(Settlement.id)
                )
            )
            alert_id = batch.alert_id
        deliver_now(self.outbox, alert_id)  # the alert says it is being settled before the money moves
        completed = False
        for sid in ids:
            try:
                completed = self.charge_one(sid) or completed
            except ProviderUnavailable as exc:
                # this settlement and the rest stay 'charging': reconcile() asks again with their keys
                log.warning("batch %s: provider unavailable while charging (%s)", batch_id, exc.request_id)
                raise ChargeOutcomeUnknown(exc.request_id) from None
        return self.finish(batch_id, completed=completed)

    def charge_one(self, settlement_id: int) -> bool:
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None or st.status != SettlementStatus.CHARGING:
                return False
            invoice_id, method_id, key, off = st.invoice_id, st.payment_method_id, st.idempotency_key, st.off_session
            record_step(s, "charge_attempted", st, idempotency_key=key)
        try:
            result = self.provider.pay_invoice(invoice_id, method_id, idempotency_key=key, off_session=off)
        except BillingError as exc:
            result = PaymentResult(outcome="declined", reason=str(exc), payment_id="")
        # Any other error (network, provider down) leaves the settlement 'charging': reconcile()
        # retries with the same idempotency key, which replays the provider's real answer.
        log.info("settlement %s of invoice %s: %s (%s)", settlement_id, invoice_id, result.outcome, result.payment_id)
        return self.apply(settlement_id, result)

    def apply(self, settlement_id: int, result: PaymentResult, *, actor: str | None = None) -> bool:
        """Record a payment's outcome once. True when it completed its batch with something paid."""
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id, with_for_update=True)
            assert st is not None
            if st.status not in (SettlementStatus.CHARGING, SettlementStatus.REQUIRES_ACTION):
                return False  # already applied (a concurrent check, a replayed callback)
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            previous = st.status
            st.payment_id = result.payment_id or st.payment_id
            st.updated_at = now
            ai = s.scalar(select(AlertInvoice).where(AlertInvoice.invoice_id == st.invoice_id).with_for_update())
            verified = previous == SettlementStatus.REQUIRES_ACTION
            if result.outcome == "succeeded":
                st.status, st.reason, st.verification_url = SettlementStatus.SUCCEEDED, None, None
                action = "verification_approved" if verified else "charge_succeeded"
                if ai is not None:
                    mark_invoice_paid(s, ai, source="settlement", by=st.user_id, card=st.card_label)
            elif result.outcome == "requires_action":
                st.status, st.verification_url = SettlementStatus.REQUIRES_ACTION, result.verification_url
                action = "verification_required"
            else:
                st.status, st.reason, st.verification_url = SettlementStatus.DECLINED, result.reason, None
                action = "verification_declined" if verified else "charge_declined"
                if result.reason == "invoice_already_paid" and ai is not None:
                    mark_invoice_paid(s, ai, source="provider", settlement_id=st.id)
                else:
                    # the latest attempt (the alert's "Why" keeps the renewal's reason)
                    record_attempt(alert, "declined", st.card_label, result.reason, st.user_id)
                    alert.decline_count += 1  # every declined attempt counts, renewal or by hand
                    if ai is not None:
                        ai.decline_count += 1
            sync_state(s, alert)
            SETTLEMENTS.labels(st.status).inc()
            # The bank's page knows no person: its answer is recorded as the bank's, for this settlement.
            record_step(s, action, st, reason=result.reason, actor=actor)
            return self._completed(s, st)

    @staticmethod
    def _completed(s: Session, st: Settlement) -> bool:
        """Did this settlement's outcome complete its batch with something paid? Then the thread
        under the alert says so, once (only the last transition of a batch gets here)."""
        if st.batch_id is None:
            return False
        batch = s.get(SettlementBatch, st.batch_id)
        assert batch is not None
        record = batch_record(s, batch)
        if record.status not in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL):
            return False
        paid = record.with_status(SettlementStatus.SUCCEEDED)
        add_reply(
            s,
            record.alert_id,
            "settled",
            user_id=record.user_id,
            card=record.card_label,
            invoices=[p.invoice_id for p in paid],
            # amounts as numbers: the reply is shown in the account's language, not the clicker's
            paid_minor=per_currency(paid),
            owed_minor=per_currency(record.still_owed) or None,
        )
        return True

    def finish(self, batch_id: int, *, completed: bool) -> BatchRecord:
        """After a batch's charges (or a bank's answer): default card, the alert, whoever is looking."""
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            assert batch is not None
            record = batch_record(s, batch)
        log.info("batch %s of alert %s: %s", batch_id, record.alert_id, record.status)
        if completed and record.make_default:
            self._make_default(record)
        deliver_now(self.outbox, record.alert_id)
        self.events.batch_changed(record)
        return record

    def _make_default(self, record: BatchRecord) -> None:
        try:
            self.provider.set_default_payment_method(record.account_id, record.payment_method_id)
        except BillingError as exc:
            log.warning("batch %s: could not make %s the default: %s", record.id, record.card_label, exc)
            return
        with transaction(self.sessions) as s:
            # every renewal is charged to it now (the provider moved them): a warning about another card is over
            card_replaced(s, record.account_id, frozenset({record.payment_method_id}))
            audit.record(
                s,
                "default_method_changed",
                actor=record.user_id,
                account_id=record.account_id,
                payment_method=record.card_label,
                provider_ref=record.payment_method_id,
                batch_id=record.id,
            )
