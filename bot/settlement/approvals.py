"""When a second pair of eyes is needed: SETTLE_APPROVAL_ABOVE names an amount per currency, and a
confirmation, a scheduled retry or a "paid another way" above it becomes a request that another
authorised admin approves or rejects from Slack (bot/settlement/approving.py carries it out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from bot.balances.lifecycle import bump
from bot.domain.errors import Refused
from bot.domain.workspace import Requester
from storage import audit
from storage.models import Alert, ApprovalRequest, Message

RequestKind = Literal["settle", "retry", "paid"]


@dataclass(frozen=True)
class ApprovalPolicy:
    above: dict[str, int] = field(default_factory=dict)  # minor units per currency; none: off
    expires_after: timedelta = timedelta(hours=24)

    def needed(self, amounts: dict[str, int]) -> bool:
        """Above the threshold in any currency; while the policy is on, a currency it names no amount
        for always needs approval (a GBP balance is not waved through by "EUR 1000")."""
        if not self.above:
            return False
        return any(minor > self.above.get(currency, -1) for currency, minor in amounts.items() if minor > 0)

    def request(
        self, s: Session, kind: RequestKind, alert: Alert, who: Requester, amounts: dict[str, int], **refs: Any
    ) -> ApprovalRequest:
        """In the caller's transaction: the request, its message in the alert's thread (Approve /
        Reject, for the account's other admins) and the audit row. One per batch or retry: asked
        again, the first is returned."""
        same: ColumnElement[bool] | None = None
        if refs.get("batch_id") is not None:
            same = ApprovalRequest.batch_id == refs["batch_id"]
        elif kind == "paid":  # a doubled submission of the same confirmation: one request
            same = and_(
                ApprovalRequest.alert_id == alert.id,
                ApprovalRequest.kind == "paid",
                ApprovalRequest.status == "pending",
                ApprovalRequest.shown == refs.get("shown"),
            )
        if same is not None:
            existing = s.scalar(select(ApprovalRequest).where(same).limit(1))
            if existing is not None and existing.status != "pending":
                raise Refused(None, action="decided_request")  # rejected or expired: ask anew from the alert
            if existing is not None:
                return existing
        now = datetime.now(UTC)
        request = ApprovalRequest(
            kind=kind,
            alert_id=alert.id,
            team_id=who.team_id,
            requested_by=who.user_id or "",
            amounts=amounts,
            status="pending",
            expires_at=now + self.expires_after,
            created_at=now,
            make_default=bool(refs.pop("make_default", False)),
            **refs,
        )
        s.add(request)
        s.flush()
        message = Message(
            kind="approval", alert_id=alert.id, team_id=alert.team_id, detail={"request_id": request.id}, created_at=now
        )
        s.add(message)
        s.flush()
        request.message_id = message.id
        bump(s, alert.id)  # the alert says what waits for approval
        audit.record(
            s,
            "approval_requested",
            actor=who.user_id or "unknown",
            account_id=alert.account_id,
            alert_id=alert.id,
            request_id=request.id,
            kind=kind,
            amounts=amounts,
            batch_id=request.batch_id,
            retry_id=request.retry_id,
            reason=request.reason,
        )
        return request


OFF = ApprovalPolicy()
