"""Finishing what a bank page or a crash left open: verifications the bank answered, verifications
nobody finished, charges whose answer was lost (asked again with the same idempotency key), and an
admin's "use another card" while the bank waits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.lifecycle import record_attempt, sync_state
from bot.billing.base import BillingProvider
from bot.domain.errors import ProviderUnavailable
from bot.domain.ports import Outbox
from bot.domain.states import SettlementStatus
from bot.domain.workspace import Requester
from bot.read.batches import BatchRecord
from bot.settlement.batches import Batches
from bot.settlement.charging import Charger
from bot.settlement.forms import deliver_now
from bot.settlement.trail import record_step
from storage.db import reading, transaction
from storage.models import Alert, Settlement

log = logging.getLogger(__name__)

RETRY_UNKNOWN_AFTER = timedelta(seconds=60)
# The sandbox's bank links live 15 minutes; a verification nobody finished by twice that is abandoned,
# and must not keep the invoice from being settled another way.
VERIFICATION_ABANDONED_AFTER = timedelta(minutes=30)


class Recovery:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        batches: Batches,
        charger: Charger,
        outbox: Outbox,
        *,
        retry_unknown_after: timedelta = RETRY_UNKNOWN_AFTER,
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.batches = batches
        self.charger = charger
        self.outbox = outbox
        self.retry_unknown_after = retry_unknown_after

    def reconcile(self) -> int:
        """Run by the poller and after callbacks; how many confirmations moved on."""
        cutoff = datetime.now(UTC) - self.retry_unknown_after
        with reading(self.sessions) as s:
            waiting = [
                batch_id
                for batch_id in s.scalars(
                    select(Settlement.batch_id)
                    .where(Settlement.status == SettlementStatus.REQUIRES_ACTION, Settlement.batch_id.is_not(None))
                    .distinct()
                )
                if batch_id is not None
            ]
            stuck = list(
                s.execute(
                    select(Settlement.id, Settlement.batch_id).where(
                        Settlement.status == SettlementStatus.CHARGING, Settlement.updated_at < cutoff
                    )
                )
            )
        changed = 0
        for batch_id in waiting:
            try:
                if self.check_verification(batch_id) is not None or self._expire_if_abandoned(batch_id):
                    changed += 1
            except ProviderUnavailable as exc:
                log.warning("batch %s: verification not checked, provider unavailable (%s)", batch_id, exc.request_id)
        for sid, stuck_batch in stuck:
            log.warning("settlement %s: outcome unknown, asking the provider again with its idempotency key", sid)
            try:
                completed = self.charger.charge_one(sid)
            except ProviderUnavailable as exc:
                log.warning("settlement %s: provider still unavailable (%s)", sid, exc.request_id)
                continue
            if stuck_batch is not None:
                self.charger.finish(stuck_batch, completed=completed)
            changed += 1
        return changed

    def check_verification(self, batch_id: int) -> BatchRecord | None:
        """Ask the provider whether the bank step finished; apply each outcome that did. None when
        the bank has not answered for any of the batch's invoices yet."""
        completed, changed = False, False
        for sid, payment_id in self._waiting(batch_id):
            result = self.provider.get_payment(payment_id) if payment_id else None
            if result is None or result.outcome == "requires_action":
                continue
            changed = True
            completed = self.charger.apply(sid, result, actor="bank") or completed
        return self.charger.finish(batch_id, completed=completed) if changed else None

    def abandon_verification(self, batch_id: int, who: Requester) -> BatchRecord:
        """ "Use another card": the pending bank step is cancelled at the provider (its page stops
        approving anything) and the invoices are free to settle again."""
        alert_id = self.batches.authorized(batch_id, who)
        for sid, payment_id in self._waiting(batch_id):
            result = self.provider.cancel_payment(payment_id) if payment_id else None
            if result is not None and result.outcome == "succeeded":  # the bank approved first: keep it
                self.charger.apply(sid, result, actor="bank")
                continue
            with transaction(self.sessions) as s:
                st = s.get(Settlement, sid, with_for_update=True)
                if st is None or st.status != SettlementStatus.REQUIRES_ACTION:
                    continue
                st.status, st.reason, st.verification_url = SettlementStatus.EXPIRED, "abandoned", None
                st.updated_at = datetime.now(UTC)
                alert = s.get(Alert, st.alert_id, with_for_update=True)
                assert alert is not None
                sync_state(s, alert)
                record_step(s, "verification_abandoned", st, actor=who.user_id)
        deliver_now(self.outbox, alert_id)
        return self.batches.get(batch_id)

    def _waiting(self, batch_id: int) -> list[tuple[int, str | None]]:
        with reading(self.sessions) as s:
            return [
                (sid, payment_id)
                for sid, payment_id in s.execute(
                    select(Settlement.id, Settlement.payment_id).where(
                        Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.REQUIRES_ACTION
                    )
                )
            ]

    def _expire_if_abandoned(self, batch_id: int) -> bool:
        cutoff = datetime.now(UTC) - VERIFICATION_ABANDONED_AFTER
        expired = False
        with transaction(self.sessions) as s:
            for st in s.scalars(
                select(Settlement)
                .where(Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.REQUIRES_ACTION)
                .with_for_update()
            ):
                if st.updated_at > cutoff:
                    continue
                alert = s.get(Alert, st.alert_id, with_for_update=True)
                assert alert is not None
                st.status, st.reason, st.verification_url = SettlementStatus.EXPIRED, "authentication_failed", None
                record_attempt(alert, "unverified", st.card_label, None, st.user_id)
                sync_state(s, alert)
                record_step(s, "verification_expired", st)
                expired = True
        if expired:
            self.charger.finish(batch_id, completed=False)
        return expired
