"""What a request for a second pair of eyes shows: in the alert's thread (Approve / Reject, naming
the account's admins) and in App Home's list of requests waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.workspace import Scope
from bot.read.balances import MaySettle, admins_of
from bot.read.cards import AlertCard, card_of, cards, shown
from bot.read.scope import visible
from storage.models import Alert, ApprovalRequest, ScheduledRetry

WAITING_SHOWN = 10  # App Home lists at most this many


@dataclass(frozen=True)
class ApprovalCard:
    request_id: int
    kind: str  # settle / retry / paid
    status: str  # pending / approved / rejected / expired
    requested_by: str
    amounts: dict[str, int]  # minor units per currency
    card_label: str | None
    reason: str | None  # paid another way: the requester's words
    expires_at: datetime
    created_at: datetime
    alert: AlertCard
    # who may decide: the account's admins and SETTLE_ADMINS, not the requester; None: not looked up (App Home)
    approvers: tuple[str, ...] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    outcome: str | None = None  # what carrying it out came to (bot/settlement/approving.py)
    retry_due: datetime | None = None
    make_default: bool = False  # the card becomes the default for renewals too

    @property
    def amount(self) -> str:
        return shown(self.amounts)

    @property
    def expired(self) -> bool:
        return self.status == "expired" or (self.status == "pending" and self.expires_at <= datetime.now(UTC))


def _card(
    s: Session, request: ApprovalRequest, alert: AlertCard, approvers: tuple[str, ...] | None = None
) -> ApprovalCard:
    retry = s.get(ScheduledRetry, request.retry_id) if request.retry_id is not None else None
    return ApprovalCard(
        request_id=request.id,
        kind=request.kind,
        status=request.status,
        requested_by=request.requested_by,
        amounts=dict(request.amounts or {}),
        card_label=request.card_label,
        reason=request.reason,
        expires_at=request.expires_at,
        created_at=request.created_at,
        alert=alert,
        approvers=None if approvers is None else tuple(a for a in approvers if a != request.requested_by),
        decided_by=request.decided_by,
        decided_at=request.decided_at,
        outcome=request.outcome,
        retry_due=retry.due_at if retry else None,
        make_default=request.make_default,
    )


def approval_card(s: Session, request_id: int, global_admins: tuple[str, ...] = ()) -> ApprovalCard | None:
    request = s.get(ApprovalRequest, request_id)
    if request is None:
        return None
    alert = card_of(s, request.alert_id)
    if alert is None:
        return None
    own = admins_of(s, [alert.account_id])[alert.account_id]
    return _card(s, request, alert, tuple(dict.fromkeys([*own, *global_admins])))


def waiting_requests(s: Session, scope: Scope | None, may: MaySettle) -> list[ApprovalCard]:
    """Pending requests in accounts this user may settle, oldest first (theirs too: they see it waits)."""
    now = datetime.now(UTC)
    rows = s.execute(
        select(ApprovalRequest, Alert.account_id)
        .join(Alert, Alert.id == ApprovalRequest.alert_id)
        .where(ApprovalRequest.status == "pending", ApprovalRequest.expires_at > now, visible(scope, Alert.team_id))
        .order_by(ApprovalRequest.id)
        .limit(WAITING_SHOWN * 5)
    ).all()
    mine = may(admins_of(s, {account_id for _, account_id in rows}))
    requests = [r for r, account_id in rows if account_id in mine][:WAITING_SHOWN]
    shown_cards = {c.alert_id: c for c in cards(s, list(dict.fromkeys(r.alert_id for r in requests)))}
    return [_card(s, r, shown_cards[r.alert_id]) for r in requests if r.alert_id in shown_cards]
