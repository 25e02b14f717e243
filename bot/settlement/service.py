"""Settling a balance: the only place money moves.

An admin picks a card and the invoices to pay (all of the balance by default): that is a batch, and
each invoice in it is a settlement with its own idempotency key. Confirming claims each settlement
(pending -> charging) with a conditional update, so however many submissions arrive each invoice is
charged at most once; a partial unique index allows one settlement per invoice in flight or done.
Authorisation is re-checked here on every step, whatever the caller did.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer, Decision
from bot.balances.routing import matches
from bot.billing.base import BillingError, BillingProvider, Invoice, PaymentResult, ProviderUnavailable
from bot.delivery.outbox import AlertDeliverer, add_reply, close_invoice, mark_invoice_paid, sync_state
from bot.delivery.ports import Notifier
from bot.domain.errors import ChargeOutcomeUnknown, InvalidChoice, NotSettleable, Refused
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from bot.observe.metrics import SETTLEMENTS
from bot.read.model import (
    BalanceFinding,
    Balances,
    BatchRecord,
    BatchStatus,
    SettleContext,
    alert_card,
    batch_record,
    total,
)
from bot.slack.gateway import SlackError
from storage import audit
from storage.db import reading, transaction
from storage.models import (
    Account,
    AccountAdmin,
    Alert,
    AlertInvoice,
    BatchView,
    CardWarning,
    Settlement,
    SettlementBatch,
)
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

RETRY_UNKNOWN_AFTER = timedelta(seconds=60)
_CLOSED = {"paid": InvoiceState.PAID, "voided": InvoiceState.VOIDED, "uncollectible": InvoiceState.UNCOLLECTIBLE}
# The sandbox's bank links live 15 minutes; a verification nobody finished by twice that is abandoned,
# and must not keep the invoice from being settled another way.
VERIFICATION_ABANDONED_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Literal["claimed", "duplicate", "busy"]
    batch: BatchRecord


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
        *,
        retry_unknown_after: timedelta = RETRY_UNKNOWN_AFTER,
    ) -> None:
        self.sessions = sessions
        self.retry_unknown_after = retry_unknown_after
        self.provider = provider
        self.authorizer = authorizer
        self.deliverer = deliverer
        self.notifier = notifier
        self.stopping = threading.Event()  # set when the process shuts down: waiting work stops

    # --- authorisation -------------------------------------------------------------------------

    def authorize(self, user_id: str | None, alert_id: int, *, max_age: float = 0.0) -> Decision:
        """May this user settle this alert's account? `max_age` only for the click's loading view."""
        found = self.authorizer.for_alert(alert_id, max_age=max_age)
        if found is None:
            raise NotSettleable("gone")
        account_id, name, admins = found
        decision = self.authorizer.decide(user_id, name, admins)
        if not decision.allowed and max_age > 0:
            # a recent answer may only ever let the loading view open sooner, never refuse someone
            # whose rights were just granted (Stripe metadata, `settle accounts map`)
            return self.authorize(user_id, alert_id)
        if not decision.allowed:
            with transaction(self.sessions) as s:
                audit.record(s, "settle_refused", actor=user_id or "unknown", account_id=account_id, alert_id=alert_id)
            raise Refused(decision)
        return decision

    # --- finding balances (/settle, App Home) ---------------------------------------------------

    def balances_for(self, user_id: str, limit: int | None = None) -> Balances:
        """The open balances this user may settle, oldest first: how many, what they owe per
        currency, and the first `limit` of them as cards. Light rows for all, cards only as shown."""
        with reading(self.sessions) as s:
            rows = s.execute(
                select(Alert.id, Alert.account_id)
                .where(Alert.state.not_in(ALERT_DONE), self.authorizer.here())
                .order_by(Alert.id)
            ).all()
            mine = self.settleable_accounts(s, user_id, {account_id for _, account_id in rows})
            allowed = [i for i, a in rows if a in mine]
            totals: dict[str, int] = {}
            for chunk in range(0, len(allowed), 500):
                for currency, owed in s.execute(
                    select(AlertInvoice.currency, func.sum(AlertInvoice.amount_minor))
                    .where(
                        AlertInvoice.alert_id.in_(allowed[chunk : chunk + 500]),
                        AlertInvoice.state == InvoiceState.OPEN,
                    )
                    .group_by(AlertInvoice.currency)
                ):
                    totals[currency] = totals.get(currency, 0) + int(owed or 0)
            shown = allowed if limit is None else allowed[:limit]
            cards = [
                alert_card(s, alert) for alert in s.scalars(select(Alert).where(Alert.id.in_(shown)).order_by(Alert.id))
            ]
        return Balances(cards=cards, count=len(allowed), open_total=len(rows), totals=tuple(sorted(totals.items())))

    def find_balances(self, user_id: str, query: str) -> BalanceFinding:
        """`/settle ACCOUNT`: the open balances whose account id or name matches best (exact over
        partial, any case), split into those the user may settle and those they may not."""
        with reading(self.sessions) as s:
            # names of every open balance (one light query); cards only for the best matches
            rows = s.execute(
                select(Alert.id, Alert.account_id, func.coalesce(Account.name, Alert.account_id))
                .outerjoin(Account, Account.id == Alert.account_id)
                .where(Alert.state.not_in(ALERT_DONE), self.authorizer.here())
                .order_by(Alert.id)
            ).all()
            scored = [(matches(query, account_id, name), alert_id) for alert_id, account_id, name in rows]
            best = max((score for score, _ in scored), default=0)
            found_ids = [alert_id for score, alert_id in scored if score and score == best]
            found = [
                alert_card(s, alert)
                for alert in s.scalars(select(Alert).where(Alert.id.in_(found_ids)).order_by(Alert.id))
            ]
            known = None
            if not found:
                for acc_id, name in s.execute(select(Account.id, Account.name).where(self.authorizer.accounts_here())):
                    if matches(query, acc_id, name):
                        known = name
                        break
            mine = self.settleable_accounts(s, user_id, {c.account_id for c in found})
        allowed = tuple(c for c in found if c.account_id in mine)
        refused = tuple(c for c in found if c.account_id not in mine)
        return BalanceFinding(allowed=allowed, refused=refused, known_account=known)

    def card_update_link(self, warning_id: int, user_id: str) -> str | None:
        """A card warning's Update card: a fresh add-card link, for the account's admins only."""
        with reading(self.sessions) as s:
            warning = s.get(CardWarning, warning_id)
            if warning is None or warning.resolved_at is not None:
                return None
            account_id = warning.account_id
            account = s.get(Account, account_id)
            if not self.authorizer.sees(account.team if account else None):
                return None  # another workspace's account (with OAuth): nothing to show here
            admins = self._admins(s, {account_id})[account_id]
        decision = self.authorizer.decide(user_id, account.name if account else account_id, admins)
        if not decision.allowed:
            raise Refused(decision)
        with transaction(self.sessions) as s:
            audit.record(s, "card_update_link", actor=user_id, account_id=account_id, warning_id=warning_id)
        return self.provider.add_method_url(account_id, f"warning:{warning_id}")

    def settleable_accounts(self, s: Session, user_id: str, account_ids: set[str]) -> set[str]:
        """Which of these accounts this user may settle: their admins in one query (user groups from
        the authorizer's cache)."""
        admins = self._admins(s, account_ids)
        return {a for a in account_ids if self.authorizer.decide(user_id, "", admins[a]).allowed}

    def _admins(self, s: Session, account_ids: set[str]) -> dict[str, tuple[str, ...]]:
        own: dict[str, list[str]] = {a: [] for a in account_ids}
        if account_ids:
            for account_id, slack_id in s.execute(
                select(AccountAdmin.account_id, AccountAdmin.slack_id).where(AccountAdmin.account_id.in_(account_ids))
            ):
                own[account_id].append(slack_id)
        return {a: tuple(dict.fromkeys([*ids, *self.authorizer.global_admins])) for a, ids in own.items()}

    # --- step 1: the modal's content -----------------------------------------------------------

    def context(
        self, alert_id: int, user_id: str, view_id: str | None, *, preselect: str | None = None
    ) -> SettleContext:
        self.authorize(user_id, alert_id)
        with reading(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            card = alert_card(s, alert)
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
        if card.state == AlertState.PAID:
            raise NotSettleable("paid", by=card.paid_by)
        if card.state == AlertState.CLOSED:
            raise NotSettleable("closed")
        invoices = self._open_invoices(alert_id, [i.invoice_id for i in card.open_invoices])
        return SettleContext(
            alert=card,
            invoices=invoices,
            methods=self.provider.list_payment_methods(card.account_id),
            add_method_url=self.provider.add_method_url(card.account_id, modal_ref(alert_id, view_id, user_id)),
            in_flight=in_flight,
            preselect_method_id=preselect,
        )

    def record_form_opened(self, ctx: SettleContext, user_id: str) -> None:
        with transaction(self.sessions) as s:
            audit.record(
                s,
                "settle_form_opened",
                actor=user_id,
                account_id=ctx.alert.account_id,
                amount_minor=sum(i.amount_minor for i in ctx.invoices),
                currency=ctx.invoices[0].currency if ctx.invoices else None,
                alert_id=ctx.alert.alert_id,
                invoices=[i.id for i in ctx.invoices],
                methods=len(ctx.methods),
            )

    # --- step 2: a card and the invoices are chosen --------------------------------------------

    def choose(
        self, alert_id: int, user_id: str, method_id: str, invoice_ids: list[str] | None, view_id: str | None
    ) -> BatchRecord:
        """A batch of pending settlements, one per chosen invoice (every open one when None)."""
        self.authorize(user_id, alert_id)
        with reading(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise NotSettleable("gone")
            if alert.state in ALERT_DONE:
                raise NotSettleable("paid" if alert.state == AlertState.PAID else "closed")
            account_id = alert.account_id
            open_ids = [ai.invoice_id for ai in alert.invoices if ai.state == InvoiceState.OPEN]
        chosen = open_ids if invoice_ids is None else [i for i in open_ids if i in set(invoice_ids)]
        if invoice_ids is not None and len(chosen) != len(set(invoice_ids)):
            raise InvalidChoice("invoices")
        if not chosen:
            raise InvalidChoice("no invoice")
        invoices = self._open_invoices(alert_id, chosen)
        if not invoices:
            raise NotSettleable("paid")
        method = next((m for m in self.provider.list_payment_methods(account_id) if m.id == method_id), None)
        if method is None:
            raise InvalidChoice(method_id)
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            batch = SettlementBatch(
                alert_id=alert_id,
                user_id=user_id,
                view_id=view_id,
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
                self._audit(s, "method_chosen", st, provider_ref=method.id, batch_id=batch.id)
            log.info(
                "batch %s: %s chose %s for alert %s, invoices %s",
                batch.id, user_id, method.id, alert_id, ",".join(i.id for i in invoices),
            )  # fmt: skip
            return batch_record(s, batch)

    # --- step 3: confirmed: claim each invoice once --------------------------------------------

    def confirm(
        self,
        batch_id: int,
        user_id: str,
        view_id: str | None,
        make_default: bool,
        *,
        shown_in: str | None = None,
    ) -> ConfirmResult:
        """`view_id` is the modal the batch was chosen in (the stack's root); `shown_in` the view
        that shows the outcome (the confirmation on top of it)."""
        alert_id = self._authorized_batch(batch_id, user_id)
        with transaction(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id, with_for_update=True)
            assert batch is not None
            chosen_in = s.scalar(select(Settlement.view_id).where(Settlement.batch_id == batch_id).limit(1))
            if batch.user_id != user_id or (chosen_in and view_id and chosen_in != view_id):
                audit.record(
                    s,
                    "settle_refused",
                    actor=user_id,
                    account_id=None,
                    alert_id=alert_id,
                    batch_id=batch_id,
                    why="not this user's confirmation",
                )
                raise Refused(None, "This confirmation belongs to another admin's session; nothing was charged.")
            pending = list(
                s.scalars(
                    select(Settlement).where(
                        Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.PENDING
                    )
                )
            )
            if not pending:
                return ConfirmResult("duplicate", batch_record(s, batch))
            batch.make_default = make_default
            batch.view_id = shown_in or batch.view_id
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
                    self._audit(
                        s, "charge_confirmed", st, make_default=make_default, idempotency_key=st.idempotency_key
                    )
            s.flush()
            s.expire_all()  # the claims above were Core updates: read every row afresh
            alert = s.get(Alert, alert_id, with_for_update=True)
            assert alert is not None
            if claimed:
                alert.note, alert.note_by = None, None
            sync_state(s, alert)
            batch = s.get(SettlementBatch, batch_id)
            assert batch is not None
            record = batch_record(s, batch)
        log.info("batch %s: confirmed by %s, %d invoice(s) claimed", batch_id, user_id, claimed)
        # No Slack call here: the caller acknowledges Slack first, then calls charge().
        if claimed == 0:
            return ConfirmResult("busy" if record.status != BatchStatus.PENDING else "duplicate", record)
        return ConfirmResult("claimed", record)

    # --- step 4: charge ------------------------------------------------------------------------

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
        self._deliver(alert_id)  # the alert says it is being settled before the money moves
        completed = False
        for sid in ids:
            try:
                completed = self._charge_one(sid) or completed
            except ProviderUnavailable as exc:
                # this settlement and the rest stay 'charging': reconcile() asks again with their keys
                log.warning("batch %s: provider unavailable while charging (%s)", batch_id, exc.request_id)
                raise ChargeOutcomeUnknown(exc.request_id) from None
        return self._finish(batch_id, completed=completed)

    def _charge_one(self, settlement_id: int) -> bool:
        with transaction(self.sessions) as s:
            st = s.get(Settlement, settlement_id)
            if st is None or st.status != SettlementStatus.CHARGING:
                return False
            invoice_id, method_id, key = st.invoice_id, st.payment_method_id, st.idempotency_key
            self._audit(s, "charge_attempted", st, idempotency_key=key)
        try:
            result = self.provider.pay_invoice(invoice_id, method_id, idempotency_key=key)
        except BillingError as exc:
            result = PaymentResult(outcome="declined", reason=str(exc), payment_id="")
        # Any other error (network, provider down) leaves the settlement 'charging': reconcile()
        # retries with the same idempotency key, which replays the provider's real answer.
        log.info("settlement %s of invoice %s: %s (%s)", settlement_id, invoice_id, result.outcome, result.payment_id)
        return self._apply(settlement_id, result)

    def _apply(self, settlement_id: int, result: PaymentResult, *, actor: str | None = None) -> bool:
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
                    # the latest attempt, in a few words (the alert's "Why" keeps the renewal's reason)
                    alert.note = f"declined|{st.card_label}|{result.reason or ''}"  # told by the renderer
                    alert.note_by = st.user_id
                    alert.decline_count += 1  # every declined attempt counts, renewal or by hand
                    if ai is not None:
                        ai.decline_count += 1
            sync_state(s, alert)
            SETTLEMENTS.labels(st.status).inc()
            # The bank's page knows no person: its answer is recorded as the bank's, for this settlement.
            self._audit(s, action, st, reason=result.reason, actor=actor)
            return self._completed(s, st)

    def _completed(self, s: Session, st: Settlement) -> bool:
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
            amount=total(paid),
            still_owed=total(record.still_owed) if record.still_owed else None,
        )
        return True

    def _finish(self, batch_id: int, *, completed: bool) -> BatchRecord:
        """After a batch's charges (or a bank's answer): default card, the alert, the admin's modal."""
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            assert batch is not None
            record = batch_record(s, batch)
        log.info("batch %s of alert %s: %s", batch_id, record.alert_id, record.status)
        if completed and record.make_default:
            self._make_default(record)
        self._deliver(record.alert_id)
        views: dict[str, SettleContext | None] = {}
        if record.view_id:
            views[record.view_id] = self.next_step(record)
        for view_id, user_id in self._watchers(batch_id):
            if view_id not in views:
                views[view_id] = self.next_step(record, user_id=user_id, view_id=view_id)
        self.notifier.batch_changed(record, views)
        return record

    def show_when_done(self, batch_id: int, view_id: str, *, wait: float = 30.0) -> None:
        """Once the batch's outcome is known, show it in `view_id` (a modal that answered a repeated
        submission with "Charging…" after the outcome may already have been shown)."""
        deadline = time.monotonic() + wait
        self.stopping.wait(0.5)
        while time.monotonic() < deadline and not self.stopping.is_set():
            record = self.get_batch(batch_id)
            if record.status not in (BatchStatus.CHARGING, BatchStatus.PENDING):
                self.notifier.batch_changed(record, {view_id: self.next_step(record, view_id=view_id)})
                return
            self.stopping.wait(0.2)

    def watch(self, batch_id: int, view_id: str, user_id: str) -> None:
        """This modal shows the confirmation too: it is updated with the outcome as well."""
        with transaction(self.sessions) as s:
            insert_ignore(s, BatchView, {"view_id": view_id, "batch_id": batch_id, "user_id": user_id}, ["view_id"])

    def _watchers(self, batch_id: int) -> list[tuple[str, str]]:
        with reading(self.sessions) as s:
            return [
                (v, u)
                for v, u in s.execute(
                    select(BatchView.view_id, BatchView.user_id).where(BatchView.batch_id == batch_id)
                )
            ]

    def next_step(
        self, record: BatchRecord, *, user_id: str | None = None, view_id: str | None = None
    ) -> SettleContext | None:
        """After a decline, the modal offers the other cards for what is still owed."""
        if record.status not in (BatchStatus.DECLINED, BatchStatus.PARTIAL) or not record.still_owed:
            return None
        try:
            return self.context(record.alert_id, user_id or record.user_id, view_id or record.view_id)
        except (NotSettleable, Refused):
            return None

    # --- verification and recovery -------------------------------------------------------------

    def reconcile(self) -> int:
        """Finish what a bank page or a crash left open; run by the poller and after callbacks."""
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
                completed = self._charge_one(sid)
            except ProviderUnavailable as exc:
                log.warning("settlement %s: provider still unavailable (%s)", sid, exc.request_id)
                continue
            if stuck_batch is not None:
                self._finish(stuck_batch, completed=completed)
            changed += 1
        return changed

    def check_verification(self, batch_id: int) -> BatchRecord | None:
        """Ask the provider whether the bank step finished; apply each outcome that did. None when
        the bank has not answered for any of the batch's invoices yet."""
        with reading(self.sessions) as s:
            waiting = list(
                s.execute(
                    select(Settlement.id, Settlement.payment_id).where(
                        Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.REQUIRES_ACTION
                    )
                )
            )
        completed, changed = False, False
        for sid, payment_id in waiting:
            result = self.provider.get_payment(payment_id) if payment_id else None
            if result is None or result.outcome == "requires_action":
                continue
            changed = True
            completed = self._apply(sid, result, actor="bank") or completed
        return self._finish(batch_id, completed=completed) if changed else None

    def abandon_verification(self, batch_id: int, user_id: str) -> BatchRecord:
        """ "Use another card": the pending bank step is cancelled at the provider (its page stops
        approving anything) and the invoices are free to settle again."""
        alert_id = self._authorized_batch(batch_id, user_id)
        with reading(self.sessions) as s:
            waiting = list(
                s.execute(
                    select(Settlement.id, Settlement.payment_id).where(
                        Settlement.batch_id == batch_id, Settlement.status == SettlementStatus.REQUIRES_ACTION
                    )
                )
            )
        for sid, payment_id in waiting:
            result = self.provider.cancel_payment(payment_id) if payment_id else None
            if result is not None and result.outcome == "succeeded":  # the bank approved first: keep it
                self._apply(sid, result, actor="bank")
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
                self._audit(s, "verification_abandoned", st, actor=user_id)
        self._deliver(alert_id)
        return self.get_batch(batch_id)

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
                alert.note = f"unverified|{st.card_label}|"
                alert.note_by = st.user_id
                sync_state(s, alert)
                self._audit(s, "verification_expired", st)
                expired = True
        if expired:
            self._finish(batch_id, completed=False)
        return expired

    def _authorized_batch(self, batch_id: int, user_id: str) -> int:
        """The batch's alert, once this user may act on it (re-checked on the server every time)."""
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            if batch is None:
                raise NotSettleable("gone")
            alert_id = batch.alert_id
        self.authorize(user_id, alert_id)
        return alert_id

    def get_batch(self, batch_id: int) -> BatchRecord:
        with reading(self.sessions) as s:
            batch = s.get(SettlementBatch, batch_id)
            if batch is None:
                raise NotSettleable("gone")
            return batch_record(s, batch)

    # --- provider hooks ------------------------------------------------------------------------

    def method_added(self, account_id: str, ref: str, method_id: str | None = None) -> None:
        """A card was added on the hosted page: audit it, and show it, chosen, in the admin's modal."""
        alert_s, _, rest = ref.partition(":")
        view_id, _, user_id = rest.partition(":")
        valid = alert_s.isascii() and alert_s.isdigit() and len(alert_s) < 10 and bool(view_id and user_id)
        with transaction(self.sessions) as s:
            # the page knows no person: the card was added through the link issued to this admin
            audit.record(
                s,
                "payment_method_added",
                actor=user_id if valid else "hosted page",
                account_id=account_id,
                provider_ref=method_id,
                via="hosted page",
            )
        if not valid:
            return
        try:
            ctx = self.context(int(alert_s), user_id, view_id, preselect=method_id)
        except (NotSettleable, Refused) as exc:
            log.info("modal %s not refreshed: %s", view_id, exc)
            return
        self.notifier.methods_changed(view_id, ctx, user_id)

    def payment_updated(self, payment_id: str) -> None:
        with reading(self.sessions) as s:
            batch_id = s.scalar(select(Settlement.batch_id).where(Settlement.payment_id == payment_id))
        if batch_id is not None:
            self.check_verification(batch_id)

    # --- internals -----------------------------------------------------------------------------

    def _open_invoices(self, alert_id: int, invoice_ids: list[str]) -> list[Invoice]:
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
            self._deliver(alert_id)
        if not invoices:
            if not closed_as:
                raise NotSettleable("gone")
            raise NotSettleable("paid" if set(closed_as) == {InvoiceState.PAID} else "closed")
        return invoices

    @staticmethod
    def _audit(
        s: Session,
        action: str,
        st: Settlement,
        provider_ref: str | None = None,
        actor: str | None = None,
        **detail: Any,
    ) -> None:
        """An audit row for a step of this settlement: who, account, invoice, amount, card, ids."""
        audit.record(
            s,
            action,
            actor=actor or st.user_id,
            account_id=st.account_id,
            invoice_id=st.invoice_id,
            amount_minor=st.amount_minor,
            currency=st.currency,
            payment_method=st.card_label,
            provider_ref=provider_ref or st.payment_id or st.payment_method_id,
            settlement_id=st.id,
            **detail,
        )

    def _make_default(self, record: BatchRecord) -> None:
        try:
            self.provider.set_default_payment_method(record.account_id, record.payment_method_id)
        except BillingError as exc:
            log.warning("batch %s: could not make %s the default: %s", record.id, record.card_label, exc)
            return
        with transaction(self.sessions) as s:
            audit.record(
                s,
                "default_method_changed",
                actor=record.user_id,
                account_id=record.account_id,
                payment_method=record.card_label,
                provider_ref=record.payment_method_id,
                batch_id=record.id,
            )

    def _deliver(self, alert_id: int) -> None:
        try:
            self.deliverer.deliver(alert_id)
        except SlackError as exc:
            log.warning("alert %s not updated now (%s); the poller will retry", alert_id, exc.code)
