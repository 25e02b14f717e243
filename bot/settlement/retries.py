"""Retry on a date: when the bank declined for funds or limits, an admin picks a day and a card, and
Settle charges the balance's invoices with it once then, off-session, with keys of its own.

Authorised and audited when scheduled; cancellable until due. When due, whichever replica moves it
from scheduled to firing (a conditional update) fires it, so it is charged once however many poll;
the scheduler's rights are checked again, and a balance paid, voided or written off meanwhile is
never charged (the confirmation refuses any invoice not open). Its outcome goes on the alert and in
its thread."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import add_reply, bump
from bot.billing.base import BillingProvider
from bot.domain.decline_reasons import kind_of
from bot.domain.errors import (
    BillingError,
    ChargeOutcomeUnknown,
    InvalidChoice,
    NotSettleable,
    ProviderUnavailable,
    Refused,
)
from bot.domain.ports import Outbox
from bot.domain.records import PaymentMethod
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState
from bot.domain.workspace import Requester
from bot.read.barred import barred_methods
from bot.read.batches import BatchStatus
from bot.read.cards import AlertCard, card_of, per_currency
from bot.settlement.approvals import OFF, ApprovalPolicy
from bot.settlement.batches import Batches
from bot.settlement.charging import Charger
from bot.settlement.endings import fingerprint
from bot.settlement.forms import deliver_now
from storage import audit
from storage.changes import moved
from storage.db import reading, transaction
from storage.models import Alert, AlertInvoice, ScheduledRetry

log = logging.getLogger(__name__)

ACTION = "retry"
MAX_AHEAD = timedelta(days=60)
MIN_AHEAD = timedelta(minutes=5)
FIRE_BATCH = 50  # due retries fired per poll: the rest are due next cycle


class AlreadyScheduled(ValueError):
    """A balance has one scheduled retry at a time: cancel it to pick another day."""


@dataclass(frozen=True)
class RetryForm:
    card: AlertCard
    methods: tuple[PaymentMethod, ...]  # the cards that may be retried (none barred)
    suggested: str | None  # the declined card, when it may be retried
    shown: str  # the fingerprint of the open invoices the form shows


def suggested_days(today: datetime) -> list[datetime]:
    """The next 1st and 15th (paydays), soonest first."""
    days = []
    for month_offset in (0, 1, 2):
        year, month = today.year + (today.month - 1 + month_offset) // 12, (today.month - 1 + month_offset) % 12 + 1
        for day in (1, 15):
            when = today.replace(year=year, month=month, day=day)
            if when.date() > today.date():
                days.append(when)
    return sorted(days)[:2]


class Retries:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: BillingProvider,
        access: Authorizer,
        batches: Batches,
        charger: Charger,
        outbox: Outbox,
        approvals: ApprovalPolicy = OFF,
    ) -> None:
        self.approvals = approvals
        self.sessions = sessions
        self.provider = provider
        self.access = access
        self.batches = batches
        self.charger = charger
        self.outbox = outbox

    def form(self, alert_id: int, who: Requester) -> RetryForm:
        """What the Retry on… form offers, for who may schedule one (asked again at the submit)."""
        self.access.authorize(who, alert_id, action=ACTION)
        with reading(self.sessions) as s:
            card = card_of(s, alert_id)
            if card is None:
                raise NotSettleable("gone")
            barred = barred_methods(s, alert_id)
        if card.state in ALERT_DONE:
            raise NotSettleable("paid" if card.state == AlertState.PAID else "closed", by=card.paid_by)
        methods = tuple(m for m in self.provider.list_payment_methods(card.account_id) if m.id not in barred)
        declined = card.declined_method_id if any(m.id == card.declined_method_id for m in methods) else None
        shown = fingerprint([line.invoice_id for line in card.open_invoices])
        return RetryForm(card, methods, declined or (methods[0].id if methods else None), shown)

    def schedule(self, alert_id: int, who: Requester, method_id: str, due: datetime, shown: str) -> ScheduledRetry:
        self.access.authorize(who, alert_id, action=ACTION)
        now = datetime.now(UTC)
        if not now + MIN_AHEAD <= due <= now + MAX_AHEAD:
            raise InvalidChoice("due")
        form = self.form(alert_id, who)
        if form.shown != shown:
            raise InvalidChoice("invoices")  # the balance changed: the form is shown again
        method = next((m for m in form.methods if m.id == method_id), None)
        if method is None:  # not the account's, or declined for good
            raise InvalidChoice(method_id)
        invoices = [line.invoice_id for line in form.card.open_invoices]
        amounts = per_currency(form.card.open_invoices)
        awaiting = self.approvals.needed(amounts)  # above the threshold: scheduled once another admin approves
        try:
            with transaction(self.sessions) as s:
                alert = s.get(Alert, alert_id, with_for_update=True)
                assert alert is not None
                retry = ScheduledRetry(
                    alert_id=alert_id,
                    team_id=who.team_id,
                    scheduled_by=who.user_id or "",
                    payment_method_id=method.id,
                    card_label=method.card.label,
                    invoice_ids=",".join(invoices),
                    due_at=due,
                    status="awaiting" if awaiting else "scheduled",
                    created_at=now,
                    updated_at=now,
                )
                if s.scalar(  # under the alert's lock: one scheduled or waiting retry per balance
                    select(ScheduledRetry.id).where(
                        ScheduledRetry.alert_id == alert_id, ScheduledRetry.status.in_(("scheduled", "awaiting"))
                    )
                ):
                    raise AlreadyScheduled("a retry is already scheduled or waiting for approval")
                s.add(retry)
                s.flush()
                bump(s, alert_id)
                if awaiting:
                    self.approvals.request(
                        s, "retry", alert, who, amounts, retry_id=retry.id, card_label=method.card.label
                    )
                else:
                    add_reply(
                        s, alert_id, "retry_scheduled", by=who.user_id, card=method.card.label, due=due.isoformat()
                    )
                audit.record(
                    s,
                    "retry_scheduled",
                    actor=who.user_id or "unknown",
                    account_id=alert.account_id,
                    alert_id=alert_id,
                    retry_id=retry.id,
                    payment_method=method.card.label,
                    provider_ref=method.id,
                    due=due.isoformat(),
                    invoices=invoices,
                    reason=kind_of(form.card.reason),
                    status=retry.status,  # "awaiting": scheduled only once another admin approves it
                )
                s.expunge(retry)
        except IntegrityError:  # the partial unique index: one scheduled retry per balance
            raise AlreadyScheduled("a retry is already scheduled") from None
        log.info("alert %s: %s scheduled a retry with %s at %s", alert_id, who.user_id, method.id, due.isoformat())
        deliver_now(self.outbox, alert_id)
        return retry

    def approved(self, retry_id: int, by: str) -> str:
        """Another admin (`by`) approved it: "scheduled" now; "too_late" when its day passed while it
        waited, "taken" when another retry of the balance was scheduled meanwhile (both cancel it),
        "not_waiting" when it was not waiting any more."""
        now = datetime.now(UTC)
        try:
            with transaction(self.sessions) as s:
                retry = s.get(ScheduledRetry, retry_id)
                if retry is None or retry.status != "awaiting":
                    return "not_waiting"
                alert_id = retry.alert_id
                if retry.due_at < now + MIN_AHEAD:  # nobody chose to charge it at another time
                    outcome = "too_late" if _moved(s, retry_id, "awaiting", "cancelled", now=now) else "not_waiting"
                elif _moved(s, retry_id, "awaiting", "scheduled", now=now):
                    outcome = "scheduled"
                    due = retry.due_at.isoformat()
                    add_reply(s, alert_id, "retry_scheduled", by=retry.scheduled_by, card=retry.card_label, due=due)
                else:
                    return "not_waiting"
                bump(s, alert_id)
                audit.record(s, "retry_approved", actor=by, alert_id=alert_id, retry_id=retry_id, outcome=outcome)
        except IntegrityError:  # the partial unique index: another retry is scheduled
            with transaction(self.sessions) as s:
                cancel_awaiting(s, retry_id, now)
                audit.record(s, "retry_approved", actor=by, alert_id=alert_id, retry_id=retry_id, outcome="taken")
            return "taken"
        deliver_now(self.outbox, alert_id)
        return outcome

    def cancel(self, alert_id: int, who: Requester) -> bool:
        """False when there was none to cancel (it fired, or someone cancelled it first)."""
        self.access.authorize(who, alert_id, action=ACTION)
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            retry = s.scalar(
                select(ScheduledRetry).where(ScheduledRetry.alert_id == alert_id, ScheduledRetry.status == "scheduled")
            )
            if retry is None or not _moved(s, retry.id, "scheduled", "cancelled", ended_by=who.user_id, now=now):
                return False
            alert = s.get(Alert, alert_id)
            bump(s, alert_id)
            add_reply(s, alert_id, "retry_cancelled", by=who.user_id, due=retry.due_at.isoformat())
            audit.record(
                s,
                "retry_cancelled",
                actor=who.user_id or "unknown",
                account_id=alert.account_id if alert else None,
                alert_id=alert_id,
                retry_id=retry.id,
            )
        deliver_now(self.outbox, alert_id)
        return True

    def fire_due(self, now: datetime | None = None) -> int:
        """Run by the poller: fire what is due. One indexed query for what is due, whatever the history."""
        now = now or datetime.now(UTC)
        with reading(self.sessions) as s:
            due = list(
                s.scalars(
                    select(ScheduledRetry.id)
                    .where(ScheduledRetry.status == "scheduled", ScheduledRetry.due_at <= now)
                    .order_by(ScheduledRetry.due_at)
                    .limit(FIRE_BATCH)
                )
            )
        fired = 0
        for retry_id in due:
            with transaction(self.sessions) as s:
                won = _moved(s, retry_id, "scheduled", "firing", now=now)
            if won:  # this replica claimed it: no other fires it
                self._fire(retry_id)
                fired += 1
        return fired

    def _fire(self, retry_id: int) -> None:
        with reading(self.sessions) as s:
            retry = s.get(ScheduledRetry, retry_id)
            assert retry is not None
            s.expunge(retry)
        who = Requester(retry.scheduled_by, retry.team_id)
        alert_id = retry.alert_id
        try:
            self.access.authorize(who, alert_id, action=ACTION)  # rights may have gone since
            with reading(self.sessions) as s:
                chosen = retry.invoice_ids.split(",")
                still_open = list(
                    s.scalars(
                        select(AlertInvoice.invoice_id).where(
                            AlertInvoice.alert_id == alert_id,
                            AlertInvoice.invoice_id.in_(chosen),
                            AlertInvoice.state == InvoiceState.OPEN,
                        )
                    )
                )
            if not still_open:
                raise NotSettleable("closed")
            batch = self.batches.choose(alert_id, who, retry.payment_method_id, still_open, off_session=True)
            self._note(retry_id, batch_id=batch.id)
            confirmed = self.batches.confirm(batch.id, who, make_default=False, approved=True)  # at scheduling
            if confirmed.outcome != "claimed":
                raise NotSettleable("busy")
            record = self.charger.charge(batch.id)
        except Refused:
            self._finish(retry, "skipped", "not_allowed")
        except (NotSettleable, InvalidChoice) as exc:
            self._finish(retry, "skipped", _skip_reason(exc))
        except ChargeOutcomeUnknown:
            # the charge's answer was lost: the settlement is asked again with its key by reconcile()
            self._finish(retry, "done", "unknown")
        except (BillingError, ProviderUnavailable) as exc:
            log.warning("retry %s not charged: %s", retry_id, exc)
            self._finish(retry, "skipped", "provider")
        else:
            if record.status in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL):
                outcome = "paid"
            elif record.status == BatchStatus.REQUIRES_ACTION:  # the bank wants the cardholder after all
                outcome = "verification"
            else:
                declined = next((st.reason for st in record.settlements if st.reason), None)
                outcome = f"declined:{declined or 'declined'}"
            self._finish(retry, "done", outcome[:64])

    def _note(self, retry_id: int, **values: Any) -> None:
        with transaction(self.sessions) as s:
            s.execute(update(ScheduledRetry).where(ScheduledRetry.id == retry_id).values(**values))

    def _finish(self, retry: ScheduledRetry, status: str, outcome: str) -> None:
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            s.execute(
                update(ScheduledRetry)
                .where(ScheduledRetry.id == retry.id)
                .values(status=status, outcome=outcome, updated_at=now)
            )
            alert = s.get(Alert, retry.alert_id)
            bump(s, retry.alert_id)
            if outcome != "paid":  # a payment says so itself ("Settled by …")
                add_reply(
                    s, retry.alert_id, "retry_done", outcome=outcome, by=retry.scheduled_by, card=retry.card_label
                )
            audit.record(
                s,
                "retry_fired" if status == "done" else "retry_skipped",
                actor=retry.scheduled_by,
                account_id=alert.account_id if alert else None,
                alert_id=retry.alert_id,
                retry_id=retry.id,
                outcome=outcome,
            )
        log.info("retry %s of alert %s: %s (%s)", retry.id, retry.alert_id, status, outcome)
        deliver_now(self.outbox, retry.alert_id)


def _moved(s: Session, retry_id: int, was: str, to: str, *, now: datetime, ended_by: str | None = None) -> bool:
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if ended_by is not None:
        values["ended_by"] = ended_by
    return moved(s, ScheduledRetry, retry_id, was, values)


def _skip_reason(exc: Exception) -> str:
    if isinstance(exc, NotSettleable):
        return "balance_over" if exc.kind in ("paid", "closed", "gone") else "busy"
    return "card_unusable"


def cancel_awaiting(s: Session, retry_id: int, now: datetime) -> None:
    """A retry whose approval was rejected or expired never runs (in the caller's transaction)."""
    _moved(s, retry_id, "awaiting", "cancelled", now=now)
