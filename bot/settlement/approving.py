"""The approval desk: another authorised admin approves or rejects a request above
SETTLE_APPROVAL_ABOVE (bot/settlement/approvals.py), and an approved one is carried out once, as the
requester asked it, with the keys it was given. The decision is one conditional update (pending ->
approved / rejected while it has not expired): a replayed or doubled Approve, from any replica,
carries nothing out twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import add_reply, bump
from bot.domain.errors import ChargeOutcomeUnknown, NotSettleable, ProviderUnavailable, Refused
from bot.domain.ports import Outbox
from bot.domain.workspace import Requester
from bot.settlement.batches import Batches
from bot.settlement.charging import Charger
from bot.settlement.endings import BalanceChanged, Endings
from bot.settlement.forms import deliver_now
from bot.settlement.retries import Retries, cancel_awaiting
from storage import audit
from storage.changes import bump_messages, moved
from storage.db import reading, transaction
from storage.models import ApprovalRequest, Message

log = logging.getLogger(__name__)

ACTION = "approve"  # what a refusal names
RESUME_AFTER = timedelta(minutes=10)  # an approval not carried out by then was cut short

Decision = Literal["approved", "rejected"]


@dataclass(frozen=True)
class Decided:
    """What came of a click: `status` is the request's now; `won` when this click decided it."""

    request_id: int
    alert_id: int
    status: str
    won: bool
    outcome: str | None = None


class ApprovalDesk:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        access: Authorizer,
        batches: Batches,
        charger: Charger,
        retries: Retries,
        endings: Endings,
        outbox: Outbox,
    ) -> None:
        self.sessions = sessions
        self.access = access
        self.batches = batches
        self.charger = charger
        self.retries = retries
        self.endings = endings
        self.outbox = outbox
        self.wake: Callable[[], None] | None = None  # the courier: the request's message changed

    def decide(self, request_id: int, who: Requester, decision: Decision) -> Decided:
        with reading(self.sessions) as s:
            request = s.get(ApprovalRequest, request_id)
            if request is None:
                raise NotSettleable("gone")
            alert_id, requester = request.alert_id, request.requested_by
        self.access.authorize(who, alert_id, action=ACTION)  # re-checked on the server, every click
        if who.user_id == requester:  # from any session or device: the same person is not a second pair
            with transaction(self.sessions) as s:
                audit.record(
                    s,
                    "approval_refused",
                    actor=who.user_id or "unknown",
                    alert_id=alert_id,
                    request_id=request_id,
                    why="the requester cannot approve their own request",
                )
            raise Refused(None, action="approve_own")
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            won = _moved(s, request_id, decision, now, by=who.user_id)
            request = s.get(ApprovalRequest, request_id)
            assert request is not None
            expired = not won and request.status == "pending" and self._expire(s, request, now)  # late, unswept
            if won:
                self._told(s, request)
                audit.record(
                    s,
                    f"approval_{decision}",
                    actor=who.user_id or "unknown",
                    alert_id=alert_id,
                    request_id=request_id,
                    kind=request.kind,
                    requested_by=request.requested_by,
                    decided_by=who.user_id,
                    amounts=request.amounts,
                )
                add_reply(s, alert_id, f"approval_{decision}", by=who.user_id, requester=request.requested_by)
                if decision == "rejected" and request.retry_id is not None:  # with the decision: never runs
                    cancel_awaiting(s, request.retry_id, now)
            status, outcome = request.status, request.outcome
        if won:
            log.info("approval request %s %s by %s", request_id, decision, who.user_id)
            if decision == "approved":
                outcome = self._carry_out(request_id)
        if won or expired:
            deliver_now(self.outbox, alert_id)
            self._wake()
        return Decided(request_id, alert_id, status, won, outcome)

    def expire_due(self, now: datetime | None = None) -> int:
        """Pending requests past their time expire (from the poll cycle): only those, by an index."""
        now = now or datetime.now(UTC)
        with reading(self.sessions) as s:
            due = list(
                s.scalars(
                    select(ApprovalRequest.id)
                    .where(ApprovalRequest.status == "pending", ApprovalRequest.expires_at <= now)
                    .order_by(ApprovalRequest.id)
                    .limit(500)
                )
            )
        expired = 0
        for request_id in due:
            with transaction(self.sessions) as s:
                request = s.get(ApprovalRequest, request_id)
                if request is not None and self._expire(s, request, now):
                    expired += 1
        self._resume(now)
        if expired:
            self._wake()
        return expired

    def _resume(self, now: datetime) -> None:
        """Approved, and never carried out (the process stopped between the two): carried out now. Safe
        to repeat: the batch is claimed once, the retry moved once, the ending checks its invoices."""
        with reading(self.sessions) as s:
            stuck = list(
                s.scalars(
                    select(ApprovalRequest.id)
                    .where(
                        ApprovalRequest.status == "approved",
                        ApprovalRequest.outcome.is_(None),
                        ApprovalRequest.decided_at < now - RESUME_AFTER,
                    )
                    .order_by(ApprovalRequest.id)
                    .limit(100)
                )
            )
        for request_id in stuck:
            log.warning("approval request %s was approved and not carried out: carrying it out now", request_id)
            self._carry_out(request_id)

    # --- carrying it out ----------------------------------------------------------------------------

    def _carry_out(self, request_id: int) -> str:
        """As the requester asked it (their rights re-checked), once: the batch's keys, the retry row,
        the ending's fingerprint. The outcome is stored on the request and shown in its message."""
        with reading(self.sessions) as s:
            request = s.get(ApprovalRequest, request_id)
            assert request is not None
            asked = Requester(request.requested_by, request.team_id)
            kind, alert_id = request.kind, request.alert_id
            batch_id, retry_id = request.batch_id, request.retry_id
            make_default, reason, shown = request.make_default, request.reason or "", request.shown or ""
            approver = request.decided_by or "unknown"
        outcome = "done"
        try:
            if kind == "settle" and batch_id is not None:
                result = self.batches.confirm(batch_id, asked, make_default, approved=True)
                if result.outcome == "claimed":
                    record = self.charger.charge(batch_id)
                    outcome = str(record.status)
                else:
                    outcome = "busy" if result.outcome == "busy" else "already_charged"
            elif kind == "retry" and retry_id is not None:
                outcome = self.retries.approved(retry_id, approver)
                outcome = "not_scheduled" if outcome in ("taken", "not_waiting") else outcome
            elif kind == "paid":
                ended = self.endings.end(alert_id, asked, "paid", reason, shown, approved=True)
                outcome = "ended" if not ended.not_ended else "not_ended"
        except (ChargeOutcomeUnknown, ProviderUnavailable):
            outcome = "unknown"  # reconcile() asks again with the same keys
        except NotSettleable as exc:
            outcome = f"not_settleable:{exc.kind}"
        except Refused:
            outcome = "requester_refused"  # the requester lost their rights meanwhile
        except BalanceChanged:
            outcome = "balance_changed"
        except Exception:
            log.exception("approval request %s: carrying it out failed", request_id)
            outcome = "failed"
        with transaction(self.sessions) as s:
            request = s.get(ApprovalRequest, request_id)
            assert request is not None
            request.outcome = outcome
            self._told(s, request)
            audit.record(
                s, "approval_carried_out", actor=request.decided_by or "unknown", alert_id=alert_id,
                request_id=request_id, kind=kind, outcome=outcome,
            )  # fmt: skip
        log.info("approval request %s carried out: %s", request_id, outcome)
        return outcome

    # --- bookkeeping --------------------------------------------------------------------------------

    def _expire(self, s: Session, request: ApprovalRequest, now: datetime) -> bool:
        if not _moved(s, request.id, "expired", now, by=None, due=True):
            return False
        s.refresh(request)
        self._told(s, request)
        audit.record(
            s, "approval_expired", actor="settle", alert_id=request.alert_id, request_id=request.id,
            kind=request.kind, requested_by=request.requested_by,
        )  # fmt: skip
        add_reply(s, request.alert_id, "approval_expired", requester=request.requested_by)
        if request.kind == "retry" and request.retry_id is not None:
            cancel_awaiting(s, request.retry_id, now)
        return True

    @staticmethod
    def _told(s: Session, request: ApprovalRequest) -> None:
        """Its message in the thread and the alert show the new state."""
        if request.message_id is not None:
            bump_messages(s, Message.id == request.message_id)
        bump(s, request.alert_id)

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake()


def _moved(s: Session, request_id: int, status: str, now: datetime, *, by: str | None, due: bool = False) -> bool:
    """pending -> `status` once: before it expires for a decision, after it for `due` (expiry)."""
    timely = ApprovalRequest.expires_at <= now if due else ApprovalRequest.expires_at > now
    values: dict[str, Any] = {"status": status, "decided_at": now}
    if by is not None:
        values["decided_by"] = by
    return moved(s, ApprovalRequest, request_id, "pending", values, timely)
