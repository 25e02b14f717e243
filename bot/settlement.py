"""Settling an invoice: the only place money moves.

A settlement is created when an admin picks a method and claimed (pending -> charging) by a
conditional update when they confirm, so however many submissions arrive only one charges. The
provider gets the settlement's idempotency key, and a partial unique index allows one settlement per
invoice in flight or done. Authorisation is re-checked here on every step, whatever the caller did.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.alerts import bump, card_for
from bot.authz import Decision
from bot.billing.base import PaymentMethod, PaymentResult
from bot.billing.sandbox import BillingError
from bot.decline_reasons import explain
from bot.money import format_money
from bot.services import Services
from bot.slack_gateway import SlackError
from storage import audit
from storage.db import reading, transaction
from storage.models import SETTLEMENT_HOLDS_INVOICE, Account, Alert, Settlement

log = logging.getLogger(__name__)

RETRY_UNKNOWN_AFTER = timedelta(seconds=60)
# The sandbox's bank links live 15 minutes; a verification nobody finished by twice that is abandoned,
# and must not keep the invoice from being settled another way.
VERIFICATION_ABANDONED_AFTER = timedelta(minutes=30)


class Refused(Exception):
    """The user may not do this; `decision` names who may."""

    def __init__(self, decision: Decision | None, message: str | None = None) -> None:
        super().__init__(message or "not allowed")
        self.decision = decision
        self.message = message


class NotSettleable(Exception):
    """The alert, invoice or settlement is gone or already paid; `kind` says which."""

    def __init__(self, kind: Literal["gone", "paid", "busy"], settlement: SettlementView | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.settlement = settlement


class InvalidChoice(Exception):
    """The chosen payment method is not one of the account's."""


@dataclass(frozen=True)
class SettlementView:
    id: int
    alert_id: int
    account_id: str
    account_name: str
    invoice_id: str
    invoice_description: str
    amount_minor: int
    currency: str
    card_label: str
    payment_method_id: str
    user_id: str
    status: str
    reason: str | None
    verification_url: str | None
    make_default: bool
    view_id: str | None
    alert_channel: str | None
    alert_ts: str | None


@dataclass(frozen=True)
class SettleContext:
    """Everything the settle modal shows, fetched after the modal is already open."""

    alert_id: int
    account_id: str
    account_name: str
    invoice_id: str
    invoice_description: str
    invoice_url: str | None
    amount_minor: int
    currency: str
    declined_card: str | None
    declined_method_id: str | None
    reason: str
    methods: list[PaymentMethod]
    add_method_url: str | None
    in_flight: SettlementView | None


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Literal["claimed", "duplicate", "busy"]
    settlement: SettlementView


Notify = Callable[[SettlementView], None]


class SettlementService:
    def __init__(self, services: Services, notify: Notify | None = None) -> None:
        self.s = services
        self.notify = notify

    # --- authorisation -------------------------------------------------------------------------

    def authorize(self, user_id: str | None, alert_id: int, *, max_age: float = 0.0) -> Decision:
        """May this user settle this alert's account? `max_age` only for the click's loading view."""
        found = self.s.authorizer.for_alert(alert_id, max_age=max_age)
        if found is None:
            raise NotSettleable("gone")
        account_id, invoice_id, name, admins = found
        decision = self.s.authorizer.decide(user_id, name, admins)
        if not decision.allowed:
            with transaction(self.s.sessions) as s:
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
        with reading(self.s.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            decline = alert.latest_decline
            in_flight = s.scalar(
                select(Settlement).where(
                    Settlement.invoice_id == alert.invoice_id,
                    Settlement.status.in_(SETTLEMENT_HOLDS_INVOICE),
                )
            )
            flight = self._view(s, in_flight) if in_flight else None
            account_id, invoice_id, state = alert.account_id, alert.invoice_id, alert.state
            card = card_for(s, alert)
        if state == "paid" or (flight and flight.status == "succeeded"):
            raise NotSettleable("paid", flight)
        invoice = self.s.provider.get_invoice(invoice_id)
        if invoice is None:
            raise NotSettleable("gone")
        if invoice.status == "paid":
            self._mark_paid_outside(alert_id)
            raise NotSettleable("paid")
        methods = self.s.provider.list_payment_methods(account_id)
        ref = f"{alert_id}:{view_id or ''}:{user_id}"
        return SettleContext(
            alert_id=alert_id,
            account_id=account_id,
            account_name=card.account_name,
            invoice_id=invoice_id,
            invoice_description=invoice.description,
            invoice_url=invoice.url,
            amount_minor=invoice.amount_minor,
            currency=invoice.currency,
            declined_card=card.card_label,
            declined_method_id=decline.payment_method_id,
            reason=card.reason,
            methods=methods,
            add_method_url=self.s.provider.add_method_url(account_id, ref),
            in_flight=flight,
        )

    def record_form_opened(self, ctx: SettleContext, user_id: str) -> None:
        with transaction(self.s.sessions) as s:
            audit.record(
                s,
                "settle_form_opened",
                actor=user_id,
                account_id=ctx.account_id,
                invoice_id=ctx.invoice_id,
                amount_minor=ctx.amount_minor,
                currency=ctx.currency,
                alert_id=ctx.alert_id,
                methods=len(ctx.methods),
            )

    # --- step 2: a method is chosen ------------------------------------------------------------

    def choose(self, alert_id: int, user_id: str, method_id: str, view_id: str | None) -> SettlementView:
        self.authorize(user_id, alert_id)
        with reading(self.s.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            if alert.state == "paid":
                raise NotSettleable("paid")
            account_id, invoice_id = alert.account_id, alert.invoice_id
        invoice = self.s.provider.get_invoice(invoice_id)
        if invoice is None:
            raise NotSettleable("gone")
        if invoice.status == "paid":
            self._mark_paid_outside(alert_id)
            raise NotSettleable("paid")
        method = next((m for m in self.s.provider.list_payment_methods(account_id) if m.id == method_id), None)
        if method is None:
            raise InvalidChoice(method_id)
        with transaction(self.s.sessions) as s:
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
                status="pending",
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
            s.add(st)
            s.flush()
            audit.record(
                s,
                "method_chosen",
                actor=user_id,
                account_id=account_id,
                invoice_id=invoice_id,
                amount_minor=invoice.amount_minor,
                currency=invoice.currency,
                payment_method=method.card.label,
                provider_ref=method.id,
                settlement_id=st.id,
            )
            return self._view(s, st)

    # --- step 3: confirmed: claim once ---------------------------------------------------------

    def confirm(self, settlement_id: int, user_id: str, view_id: str | None, make_default: bool) -> ConfirmResult:
        with reading(self.s.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None:
                raise NotSettleable("gone")
            alert_id = st.alert_id
        self.authorize(user_id, alert_id)
        with transaction(self.s.sessions) as s:
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
            if st.status != "pending":
                return ConfirmResult("duplicate", self._view(s, st))
            try:
                with s.begin_nested():
                    won = cast(
                        CursorResult[Any],
                        s.execute(
                            update(Settlement)
                            .where(Settlement.id == settlement_id, Settlement.status == "pending")
                            .values(status="charging", make_default=make_default, updated_at=datetime.now(UTC))
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
                return ConfirmResult("busy", self._view(s, other or st))
            s.refresh(st)
            if won != 1:
                return ConfirmResult("duplicate", self._view(s, st))
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            alert.state, alert.pending_by, alert.note = "settling", user_id, None
            s.flush()
            bump(s, alert.id)
            self._audit(s, "charge_confirmed", st, make_default=make_default, idempotency_key=st.idempotency_key)
            view = self._view(s, st)
        self._deliver(view.alert_id)  # strip the Settle button now
        return ConfirmResult("claimed", view)

    # --- step 4: charge ------------------------------------------------------------------------

    def charge(self, settlement_id: int) -> SettlementView:
        with transaction(self.s.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None or st.status != "charging":
                raise NotSettleable("gone")
            invoice_id, method_id, key = st.invoice_id, st.payment_method_id, st.idempotency_key
            self._audit(s, "charge_attempted", st, idempotency_key=key)
        try:
            result = self.s.provider.pay_invoice(invoice_id, method_id, idempotency_key=key)
        except BillingError as exc:
            result = PaymentResult(outcome="declined", reason=str(exc), payment_id="")
        # Any other error (network, provider down) leaves the settlement 'charging': reconcile()
        # retries with the same idempotency key, which replays the provider's real answer.
        return self._apply(settlement_id, result)

    def _apply(self, settlement_id: int, result: PaymentResult) -> SettlementView:
        now = datetime.now(UTC)
        with transaction(self.s.sessions) as s:
            st = s.get(Settlement, settlement_id, with_for_update=True)
            assert st is not None
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            previous = st.status
            st.payment_id = result.payment_id or st.payment_id
            st.updated_at = now
            if result.outcome == "succeeded":
                st.status, st.reason, st.verification_url = "succeeded", None, None
                alert.state, alert.paid_at, alert.paid_by, alert.paid_with = "paid", now, st.user_id, st.card_label
                alert.note = None
                action = "verification_approved" if previous == "requires_action" else "charge_succeeded"
            elif result.outcome == "requires_action":
                st.status, st.verification_url = "requires_action", result.verification_url
                alert.state, alert.pending_by = "verification_pending", st.user_id
                action = "verification_required"
            else:
                st.status, st.reason, st.verification_url = "declined", result.reason, None
                alert.state, alert.pending_by = "open", None
                if result.reason == "invoice_already_paid":
                    alert.state, alert.paid_at = "paid", alert.paid_at or now
                    alert.note = None
                else:
                    alert.note = (
                        f"<@{st.user_id}>'s payment with {st.card_label} was declined: {explain(result.reason).why}"
                    )
                action = "verification_declined" if previous == "requires_action" else "charge_declined"
            s.flush()
            bump(s, alert.id)
            self._audit(s, action, st, reason=result.reason)
            view = self._view(s, st)
        if view.status == "succeeded" and view.make_default:
            self._make_default(view)
        self._deliver(view.alert_id)
        if view.status == "succeeded":
            self._thread_reply(view)
        if self.notify:
            self.notify(view)
        return view

    # --- verification and recovery -------------------------------------------------------------

    def reconcile(self) -> int:
        """Finish what a bank page or a crash left open; run by the poller and after callbacks."""
        cutoff = datetime.now(UTC) - RETRY_UNKNOWN_AFTER
        with reading(self.s.sessions) as s:
            waiting = list(s.scalars(select(Settlement.id).where(Settlement.status == "requires_action")))
            stuck = list(
                s.scalars(select(Settlement.id).where(Settlement.status == "charging", Settlement.updated_at < cutoff))
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

    def check_verification(self, settlement_id: int) -> SettlementView | None:
        """Ask the provider whether the bank step finished; apply the outcome if it did."""
        with reading(self.s.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None or st.status != "requires_action" or not st.payment_id:
                return None
            payment_id = st.payment_id
        result = self.s.provider.get_payment(payment_id)
        if result is None or result.outcome == "requires_action":
            return None
        return self._apply(settlement_id, result)

    def _expire_if_abandoned(self, settlement_id: int) -> bool:
        cutoff = datetime.now(UTC) - VERIFICATION_ABANDONED_AFTER
        with transaction(self.s.sessions) as s:
            st = s.get(Settlement, settlement_id, with_for_update=True)
            if st is None or st.status != "requires_action" or st.updated_at > cutoff:
                return False
            alert = s.get(Alert, st.alert_id, with_for_update=True)
            assert alert is not None
            st.status, st.reason, st.verification_url = "expired", "authentication_failed", None
            alert.state, alert.pending_by = "open", None
            alert.note = f"<@{st.user_id}>'s payment with {st.card_label} was never verified with the bank."
            s.flush()
            bump(s, alert.id)
            self._audit(s, "verification_expired", st)
            alert_id = alert.id
        self._deliver(alert_id)
        return True

    def by_payment(self, payment_id: str) -> int | None:
        with reading(self.s.sessions) as s:
            return s.scalar(select(Settlement.id).where(Settlement.payment_id == payment_id))

    def get(self, settlement_id: int) -> SettlementView | None:
        with reading(self.s.sessions) as s:
            st = s.get(Settlement, settlement_id)
            return self._view(s, st) if st else None

    # --- internals -----------------------------------------------------------------------------

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

    def _mark_paid_outside(self, alert_id: int) -> None:
        with transaction(self.s.sessions) as s:
            alert = s.get(Alert, alert_id, with_for_update=True)
            if alert is None or alert.state == "paid":
                return
            alert.state, alert.paid_at = "paid", datetime.now(UTC)
            s.flush()
            bump(s, alert_id)
            audit.record(s, "invoice_paid", account_id=alert.account_id, invoice_id=alert.invoice_id, source="provider")
        self._deliver(alert_id)

    def _make_default(self, view: SettlementView) -> None:
        with reading(self.s.sessions) as s:
            st = s.get(Settlement, view.id)
            assert st is not None
            method_id = st.payment_method_id
        try:
            self.s.provider.set_default_payment_method(view.account_id, method_id)
        except BillingError as exc:
            log.warning("settlement %s: could not make %s the default: %s", view.id, view.card_label, exc)
            return
        with transaction(self.s.sessions) as s:
            audit.record(
                s,
                "default_method_changed",
                actor=view.user_id,
                account_id=view.account_id,
                invoice_id=view.invoice_id,
                payment_method=view.card_label,
                provider_ref=method_id,
            )

    def _deliver(self, alert_id: int) -> None:
        try:
            self.s.deliverer().deliver(alert_id)
        except SlackError as exc:
            log.warning("alert %s not updated now (%s); the poller will retry", alert_id, exc.code)

    def _thread_reply(self, view: SettlementView) -> None:
        if not (view.alert_channel and view.alert_ts):
            return
        text = (
            f"✅ Settled by <@{view.user_id}>: {format_money(view.amount_minor, view.currency)} "
            f"charged to {view.card_label}."
        )
        try:
            self.s.web.chat_postMessage(channel=view.alert_channel, thread_ts=view.alert_ts, text=text)
        except Exception as exc:  # the alert itself already says it; a missing reply is not worth failing for
            log.warning("thread reply for settlement %s failed: %s", view.id, exc)

    def _view(self, s: Session, st: Settlement) -> SettlementView:
        alert = s.get(Alert, st.alert_id)
        account = s.get(Account, st.account_id)
        return SettlementView(
            id=st.id,
            alert_id=st.alert_id,
            account_id=st.account_id,
            account_name=account.name if account else st.account_id,
            invoice_id=st.invoice_id,
            invoice_description=alert.invoice_description if alert else "",
            amount_minor=st.amount_minor,
            currency=st.currency,
            card_label=st.card_label,
            payment_method_id=st.payment_method_id,
            user_id=st.user_id,
            status=st.status,
            reason=st.reason,
            verification_url=st.verification_url,
            make_default=st.make_default,
            view_id=st.view_id,
            alert_channel=alert.channel if alert else None,
            alert_ts=alert.ts if alert else None,
        )
