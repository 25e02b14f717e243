"""Settling an invoice: the only place money moves.

A settlement is created when an admin picks a method and claimed (pending -> charging) by a
conditional update when they confirm, so however many submissions arrive only one charges. The
provider gets the settlement's idempotency key, and a partial unique index allows one settlement per
invoice in flight or done. Authorisation is re-checked here on every step, whatever the caller did.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import AlertDeliverer, bump, mark_paid
from bot.authz import Authorizer, Decision
from bot.billing.base import BillingError, BillingProvider, Invoice, PaymentResult
from bot.decline_reasons import explain
from bot.errors import InvalidChoice, NotSettleable, Refused
from bot.ports import Notifier
from bot.queries import SettleContext, SettlementRecord, alert_card, settlement_record
from bot.slack_gateway import SlackError
from bot.states import SETTLEMENT_HOLDS_INVOICE, AlertState, SettlementStatus
from storage import audit
from storage.db import reading, transaction
from storage.models import Alert, Settlement

log = logging.getLogger(__name__)

RETRY_UNKNOWN_AFTER = timedelta(seconds=60)
# The sandbox's bank links live 15 minutes; a verification nobody finished by twice that is abandoned,
# and must not keep the invoice from being settled another way.
VERIFICATION_ABANDONED_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Literal["claimed", "duplicate", "busy"]
    settlement: SettlementRecord


def modal_ref(alert_id: int, view_id: str | None, user_id: str) -> str:
    """What the add-card page hands back when a card was added: whose open modal to refresh."""
    return f"{alert_id}:{view_id or ''}:{user_id}"


class SettlementService:
    """Implements ProviderHooks too: a provider's notices come back here."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        authorizer: Authorizer,
        deliverer: AlertDeliverer,
        notifier: Notifier,
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.authorizer = authorizer
        self.deliverer = deliverer
        self.notifier = notifier

    # --- authorisation -------------------------------------------------------------------------

    def authorize(self, user_id: str | None, alert_id: int, *, max_age: float = 0.0) -> Decision:
        """May this user settle this alert's account? `max_age` only for the click's loading view."""
        found = self.authorizer.for_alert(alert_id, max_age=max_age)
        if found is None:
            raise NotSettleable("gone")
        account_id, invoice_id, name, admins = found
        decision = self.authorizer.decide(user_id, name, admins)
        if not decision.allowed:
            with transaction(self.sessions) as s:
                audit.record(
                    s,
                    "settle_refused",
                    actor=user_id or "unknown",
                    account_id=account_id,
                    invoice_id=invoice_id,
                    alert_id=alert_id,
                )
            raise Refused(decision)
        return decision

    # --- step 1: the modal's content -----------------------------------------------------------

    def context(self, alert_id: int, user_id: str, view_id: str | None) -> SettleContext:
        self.authorize(user_id, alert_id)
        with reading(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            holder = s.scalar(
                select(Settlement).where(
                    Settlement.invoice_id == alert.invoice_id,
                    Settlement.status.in_(SETTLEMENT_HOLDS_INVOICE),
                )
            )
            in_flight = settlement_record(s, holder) if holder else None
            card = alert_card(s, alert)
        if card.state == AlertState.PAID or (in_flight and in_flight.status == SettlementStatus.SUCCEEDED):
            raise NotSettleable("paid", in_flight)
        invoice = self._open_invoice(alert_id, card.invoice_id)
        return SettleContext(
            alert=card,
            invoice=invoice,
            methods=self.provider.list_payment_methods(card.account_id),
            add_method_url=self.provider.add_method_url(card.account_id, modal_ref(alert_id, view_id, user_id)),
            in_flight=in_flight,
        )

    def record_form_opened(self, ctx: SettleContext, user_id: str) -> None:
        with transaction(self.sessions) as s:
            audit.record(
                s,
                "settle_form_opened",
                actor=user_id,
                account_id=ctx.alert.account_id,
                invoice_id=ctx.invoice.id,
                amount_minor=ctx.invoice.amount_minor,
                currency=ctx.invoice.currency,
                alert_id=ctx.alert.alert_id,
                methods=len(ctx.methods),
            )

    # --- step 2: a method is chosen ------------------------------------------------------------

    def choose(self, alert_id: int, user_id: str, method_id: str, view_id: str | None) -> SettlementRecord:
        self.authorize(user_id, alert_id)
        with reading(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            if alert.state == AlertState.PAID:
                raise NotSettleable("paid")
            account_id, invoice_id = alert.account_id, alert.invoice_id
        invoice = self._open_invoice(alert_id, invoice_id)
        method = next((m for m in self.provider.list_payment_methods(account_id) if m.id == method_id), None)
        if method is None:
            raise InvalidChoice(method_id)
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            st = Settlement(
                alert_id=alert_id,
                invoice_id=invoice_id,
                account_id=account_id,
                user_id=user_id,
                view_id=view_id,
                payment_method_id=method.id,
                card_label=method.card.label,
                amount_minor=invoice.amount_minor,
                currency=invoice.currency,
                make_default=False,
                idempotency_key=f"settle-{uuid.uuid4()}",
                status=SettlementStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
            s.add(st)
            s.flush()
            self._audit(s, "method_chosen", st, provider_ref=method.id)
            return settlement_record(s, st)

    # --- step 3: confirmed: claim once ---------------------------------------------------------

    def confirm(self, settlement_id: int, user_id: str, view_id: str | None, make_default: bool) -> ConfirmResult:
        with reading(self.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None:
                raise NotSettleable("gone")
            alert_id = st.alert_id
        self.authorize(user_id, alert_id)
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id, with_for_update=True)
            assert st is not None
            if st.user_id != user_id or (st.view_id and view_id and st.view_id != view_id):
                audit.record(
                    s,
                    "settle_refused",
                    actor=user_id,
                    account_id=st.account_id,
                    invoice_id=st.invoice_id,
                    settlement_id=st.id,
                    why="not this user's confirmation",
                )
                raise Refused(None, "This confirmation belongs to another admin's session; nothing was charged.")
            if st.status != SettlementStatus.PENDING:
                return ConfirmResult("duplicate", settlement_record(s, st))
            try:
                with s.begin_nested():
                    won = cast(
                        CursorResult[Any],
                        s.execute(
                            update(Settlement)
                            .where(Settlement.id == settlement_id, Settlement.status == SettlementStatus.PENDING)
                            .values(
                                status=SettlementStatus.CHARGING,
                                make_default=make_default,
                                updated_at=datetime.now(UTC),
                            )
                            .execution_options(synchronize_session=False)
                        ),
                    ).rowcount
            except IntegrityError:
                other = s.scalar(
                    select(Settlement).where(
                        Settlement.invoice_id == st.invoice_id,
                        Settlement.status.in_(SETTLEMENT_HOLDS_INVOICE),
                    )
                )
                return ConfirmResult("busy", settlement_record(s, other or st))
            s.refresh(st)
            if won != 1:
                return ConfirmResult("duplicate", settlement_record(s, st))
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            alert.state, alert.pending_by, alert.note, alert.note_by = AlertState.SETTLING, user_id, None, None
            s.flush()
            bump(s, alert.id)
            self._audit(s, "charge_confirmed", st, make_default=make_default, idempotency_key=st.idempotency_key)
            record = settlement_record(s, st)
        # No Slack call here: the caller acknowledges Slack first, then calls charge().
        return ConfirmResult("claimed", record)

    # --- step 4: charge ------------------------------------------------------------------------

    def charge(self, settlement_id: int) -> SettlementRecord:
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None or st.status != SettlementStatus.CHARGING:
                raise NotSettleable("gone")
            invoice_id, method_id, key = st.invoice_id, st.payment_method_id, st.idempotency_key
            alert_id = st.alert_id
            self._audit(s, "charge_attempted", st, idempotency_key=key)
        self._deliver(alert_id)  # the alert loses its Settle button before the money moves
        try:
            result = self.provider.pay_invoice(invoice_id, method_id, idempotency_key=key)
        except BillingError as exc:
            result = PaymentResult(outcome="declined", reason=str(exc), payment_id="")
        # Any other error (network, provider down) leaves the settlement 'charging': reconcile()
        # retries with the same idempotency key, which replays the provider's real answer.
        return self._apply(settlement_id, result)

    def _apply(self, settlement_id: int, result: PaymentResult) -> SettlementRecord:
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id, with_for_update=True)
            assert st is not None
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            previous = st.status
            st.payment_id = result.payment_id or st.payment_id
            st.updated_at = now
            if result.outcome == "succeeded":
                st.status, st.reason, st.verification_url = SettlementStatus.SUCCEEDED, None, None
                alert.state, alert.paid_at = AlertState.PAID, now
                alert.paid_by, alert.paid_with, alert.note, alert.note_by = st.user_id, st.card_label, None, None
                action = "verification_approved" if previous == SettlementStatus.REQUIRES_ACTION else "charge_succeeded"
            elif result.outcome == "requires_action":
                st.status, st.verification_url = SettlementStatus.REQUIRES_ACTION, result.verification_url
                alert.state, alert.pending_by = AlertState.VERIFICATION_PENDING, st.user_id
                action = "verification_required"
            else:
                st.status, st.reason, st.verification_url = SettlementStatus.DECLINED, result.reason, None
                alert.state, alert.pending_by = AlertState.OPEN, None
                if result.reason == "invoice_already_paid":
                    alert.state, alert.paid_at = AlertState.PAID, alert.paid_at or now
                    alert.note, alert.note_by = None, None
                else:
                    alert.note = f"payment with {st.card_label} was declined: {explain(result.reason).why}"
                    alert.note_by = st.user_id
                action = "verification_declined" if previous == SettlementStatus.REQUIRES_ACTION else "charge_declined"
            s.flush()
            bump(s, alert.id)
            self._audit(s, action, st, reason=result.reason)
            record = settlement_record(s, st)
        if record.status == SettlementStatus.SUCCEEDED and record.make_default:
            self._make_default(record)
        self._deliver(record.alert_id)
        self.notifier.settlement_changed(record, self.next_step(record))
        return record

    def next_step(self, record: SettlementRecord) -> SettleContext | None:
        """After a decline, the modal offers the other cards: its fresh content, if still settleable."""
        if record.status != SettlementStatus.DECLINED:
            return None
        try:
            return self.context(record.alert_id, record.user_id, record.view_id)
        except (NotSettleable, Refused):
            return None

    # --- verification and recovery -------------------------------------------------------------

    def reconcile(self) -> int:
        """Finish what a bank page or a crash left open; run by the poller and after callbacks."""
        cutoff = datetime.now(UTC) - RETRY_UNKNOWN_AFTER
        with reading(self.sessions) as s:
            waiting = list(
                s.scalars(select(Settlement.id).where(Settlement.status == SettlementStatus.REQUIRES_ACTION))
            )
            stuck = list(
                s.scalars(
                    select(Settlement.id).where(
                        Settlement.status == SettlementStatus.CHARGING, Settlement.updated_at < cutoff
                    )
                )
            )
        changed = 0
        for sid in waiting:
            if self.check_verification(sid) is not None or self._expire_if_abandoned(sid):
                changed += 1
        for sid in stuck:
            log.warning("settlement %s: outcome unknown, asking the provider again with its idempotency key", sid)
            self.charge(sid)
            changed += 1
        return changed

    def check_verification(self, settlement_id: int) -> SettlementRecord | None:
        """Ask the provider whether the bank step finished; apply the outcome if it did."""
        with reading(self.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None or st.status != SettlementStatus.REQUIRES_ACTION or not st.payment_id:
                return None
            payment_id = st.payment_id
        result = self.provider.get_payment(payment_id)
        if result is None or result.outcome == "requires_action":
            return None
        return self._apply(settlement_id, result)

    def _expire_if_abandoned(self, settlement_id: int) -> bool:
        cutoff = datetime.now(UTC) - VERIFICATION_ABANDONED_AFTER
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id, with_for_update=True)
            if st is None or st.status != SettlementStatus.REQUIRES_ACTION or st.updated_at > cutoff:
                return False
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            st.status, st.reason, st.verification_url = SettlementStatus.EXPIRED, "authentication_failed", None
            alert.state, alert.pending_by = AlertState.OPEN, None
            alert.note = f"payment with {st.card_label} was never verified with the bank."
            alert.note_by = st.user_id
            s.flush()
            bump(s, alert.id)
            self._audit(s, "verification_expired", st)
            alert_id = alert.id
        self._deliver(alert_id)
        return True

    def get(self, settlement_id: int) -> SettlementRecord | None:
        with reading(self.sessions) as s:
            st = s.get(Settlement, settlement_id)
            return settlement_record(s, st) if st else None

    # --- provider hooks ------------------------------------------------------------------------

    def method_added(self, account_id: str, ref: str) -> None:
        """A card was added on the hosted page: show it in the admin's open modal."""
        alert_s, _, rest = ref.partition(":")
        view_id, _, user_id = rest.partition(":")
        if not (alert_s.isdigit() and view_id and user_id):
            return
        try:
            ctx = self.context(int(alert_s), user_id, view_id)
        except (NotSettleable, Refused) as exc:
            log.info("modal %s not refreshed: %s", view_id, exc)
            return
        self.notifier.methods_changed(view_id, ctx)

    def payment_updated(self, payment_id: str) -> None:
        with reading(self.sessions) as s:
            sid = s.scalar(select(Settlement.id).where(Settlement.payment_id == payment_id))
        if sid is not None:
            self.check_verification(sid)

    # --- internals -----------------------------------------------------------------------------

    def _open_invoice(self, alert_id: int, invoice_id: str) -> Invoice:
        """The invoice as the provider has it now; a paid one is recorded as paid and refused."""
        invoice = self.provider.get_invoice(invoice_id)
        if invoice is None:
            raise NotSettleable("gone")
        if invoice.status == "paid":
            with transaction(self.sessions) as s:
                alert = s.get(Alert, alert_id, with_for_update=True)
                changed = alert is not None and mark_paid(s, alert, source="provider")
            if changed:
                self._deliver(alert_id)
            raise NotSettleable("paid")
        return invoice

    @staticmethod
    def _audit(s: Session, action: str, st: Settlement, provider_ref: str | None = None, **detail: Any) -> None:
        """An audit row for a step of this settlement: who, account, invoice, amount, card, ids."""
        audit.record(
            s,
            action,
            actor=st.user_id,
            account_id=st.account_id,
            invoice_id=st.invoice_id,
            amount_minor=st.amount_minor,
            currency=st.currency,
            payment_method=st.card_label,
            provider_ref=provider_ref or st.payment_id or st.payment_method_id,
            settlement_id=st.id,
            **detail,
        )

    def _make_default(self, record: SettlementRecord) -> None:
        try:
            self.provider.set_default_payment_method(record.account_id, record.payment_method_id)
        except BillingError as exc:
            log.warning("settlement %s: could not make %s the default: %s", record.id, record.card_label, exc)
            return
        with transaction(self.sessions) as s:
            audit.record(
                s,
                "default_method_changed",
                actor=record.user_id,
                account_id=record.account_id,
                invoice_id=record.invoice_id,
                payment_method=record.card_label,
                provider_ref=record.payment_method_id,
            )

    def _deliver(self, alert_id: int) -> None:
        try:
            self.deliverer.deliver(alert_id)
        except SlackError as exc:
            log.warning("alert %s not updated now (%s); the poller will retry", alert_id, exc.code)
