"""Following a balance up until it is settled: a reminder in the alert's thread when it is still open
after SETTLE_REMIND_AFTER (again every as long), an escalation to SETTLE_ALERT_CHANNEL after
SETTLE_ESCALATE_AFTER; snoozing postpones both, an assignee is mentioned in them.

Each due time is stored on the alert. A poller claims it with a compare-and-set that moves it on,
in the same transaction that writes the reply to the outbox: however many processes poll, and
whatever restarts, each due reminder is written once, and the deliverer posts it once. Both stop
when the balance is over (sync_state clears them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import add_reply, bump
from bot.balances.routing import default_channel
from bot.domain.chat import SlackError
from bot.domain.errors import NotSettleable
from bot.domain.ports import Outbox
from bot.domain.slack_ids import USER
from bot.domain.states import ALERT_DONE, AlertState
from bot.domain.workspace import Requester
from storage import audit
from storage.db import reading, transaction
from storage.models import AccountAdmin, Alert, Message

log = logging.getLogger(__name__)

MAX_SNOOZE = timedelta(days=90)


class FollowUps:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        access: Authorizer,
        outbox: Outbox,
        *,
        remind_after: timedelta,
        escalate_after: timedelta,
        escalation_channel: str | None,
    ) -> None:
        self.sessions = sessions
        self.access = access
        self.outbox = outbox
        self.remind_after = remind_after
        self.escalate_after = escalate_after
        self.escalation_channel = escalation_channel
        self.wake: Callable[[], None] | None = None  # the courier: follow-ups written, to be posted

    # --- the poll's part ----------------------------------------------------------------------------

    def run(self, now: datetime | None = None) -> tuple[int, int]:
        """Write the reminders and escalations now due; (reminders, escalations) this call claimed."""
        now = now or datetime.now(UTC)
        with reading(self.sessions) as s:
            remind = list(s.scalars(select(Alert.id).where(Alert.remind_at <= now)))
            escalate = list(s.scalars(select(Alert.id).where(Alert.escalate_at <= now)))
        storms: dict[tuple[str, int], list[dict[str, Any]]] = {}
        escalated_now = {alert_id for alert_id in escalate if self._escalate(alert_id, now, storms)}
        # escalated this moment: the escalation says it all, its reminder is not sent beside it
        reminded = sum(self._remind(alert_id, now, storms, quiet=alert_id in escalated_now) for alert_id in remind)
        escalated = len(escalated_now)
        if storms:
            self._tell_digests(storms)
        if self.wake is not None and (reminded or escalated):
            self.wake()
        return reminded, escalated

    def _tell_digests(self, storms: dict[tuple[str, int], list[dict[str, Any]]]) -> None:
        """Balances told in a digest have no thread of their own: their follow-ups of one run are one
        reply in the digest's thread (a storm's 300 reminders would otherwise flood it)."""
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            for (kind, digest_id), due in storms.items():
                mentions = list(dict.fromkeys(m for d in due for m in d["mention"]))
                s.add(
                    Message(
                        kind="reply",
                        digest_id=digest_id,
                        broadcast=kind == "escalated",
                        detail={
                            "kind": f"digest_{kind}",
                            "alerts": [d["alert_id"] for d in due],
                            "mention": mentions,
                            "open_for": max(d["open_for"] for d in due),
                        },
                        created_at=now,
                    )
                )

    def _claim(self, s: Session, alert_id: int, column: Any, now: datetime, moved_to: datetime | None) -> bool:
        """Move a due time on, if it is still due: the poller whose update matched sends it. (A
        concurrent one waits for the row, then finds it no longer due.)"""
        won = cast(
            CursorResult[Any],
            s.execute(
                update(Alert)
                .where(Alert.id == alert_id, column.is_not(None), column <= now, Alert.state.not_in(ALERT_DONE))
                .values({column.key: moved_to})
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        return won == 1

    def _remind(
        self, alert_id: int, now: datetime, storms: dict[tuple[str, int], list[dict[str, Any]]], *, quiet: bool = False
    ) -> bool:
        """Send a due reminder; `quiet` only moves it on (the alert was escalated this moment)."""
        with transaction(self.sessions) as s:
            if not self._claim(s, alert_id, Alert.remind_at, now, now + self.remind_after):
                return False  # another poller sent it, or the balance is over
            if quiet:
                return False
            alert = s.get(Alert, alert_id)
            assert alert is not None
            if alert.state in (AlertState.VERIFICATION_PENDING, AlertState.SETTLING):
                # someone is paying it this moment (at the bank's page, or the charge is under way):
                # no ping in the middle of it; the next reminder comes a period on, if it is still open
                log.info("alert %s: reminder moved on (it is being settled)", alert_id)
                return False
            alert.reminders_sent += 1
            mention = self._who(s, alert)
            open_for = int((now - alert.created_at).total_seconds())
            if alert.digest_id is not None and alert.ts is None:
                storms.setdefault(("reminder", alert.digest_id), []).append(
                    {"alert_id": alert_id, "mention": mention, "open_for": open_for}
                )
            else:
                add_reply(s, alert_id, "reminder", mention=mention, open_for=open_for, number=alert.reminders_sent)
            audit.record(s, "reminder_due", account_id=alert.account_id, alert_id=alert_id, mention=mention)
        log.info("alert %s: reminder written", alert_id)
        return True

    def _escalate(self, alert_id: int, now: datetime, storms: dict[tuple[str, int], list[dict[str, Any]]]) -> bool:
        with transaction(self.sessions) as s:
            if not self._claim(s, alert_id, Alert.escalate_at, now, None):
                return False
            alert = s.get(Alert, alert_id)
            assert alert is not None
            alert.escalated_at = now
            detail = {"open_for": int((now - alert.created_at).total_seconds()), "mention": self._who(s, alert)}
            if alert.digest_id is not None and alert.ts is None:
                storms.setdefault(("escalated", alert.digest_id), []).append({"alert_id": alert_id, **detail})
                audit.record(s, "alert_escalated", account_id=alert.account_id, alert_id=alert_id, channel=None)
                return True
            add_reply(s, alert_id, "escalated", broadcast=True, **detail)
            target = default_channel(s, alert.team_id, self.escalation_channel)  # in the alert's workspace
            if target and target != alert.channel:
                # a message of its own in the alert channel, pointing at the alert
                s.add(
                    Message(
                        kind="escalation",
                        alert_id=alert_id,
                        team_id=alert.team_id,
                        detail={**detail, "alert_channel": alert.channel},
                        channel=target,
                        created_at=now,
                    )
                )
            audit.record(s, "alert_escalated", account_id=alert.account_id, alert_id=alert_id, channel=target)
        return True

    @staticmethod
    def _who(s: Session, alert: Alert) -> list[str]:
        """Who a follow-up mentions: the assignee, else the account's own admins."""
        if alert.assignee:
            return [alert.assignee]
        return list(s.scalars(select(AccountAdmin.slack_id).where(AccountAdmin.account_id == alert.account_id)))

    # --- the alert's buttons ------------------------------------------------------------------------

    def snooze(self, alert_id: int, who: Requester, until: datetime | None) -> None:
        """Postpone reminders and escalation until `until`; None wakes the alert up again."""
        self.access.authorize(who, alert_id, action="snooze")
        now = datetime.now(UTC)
        if until is not None and not now < until <= now + MAX_SNOOZE:
            raise ValueError("a snooze ends in the future, within 90 days")
        with transaction(self.sessions) as s:
            alert = self._open(s, alert_id)
            alert.snoozed_until, alert.snoozed_by = (until, who.user_id) if until else (None, None)
            if until is not None:
                alert.remind_at = max(alert.remind_at or until, until)
                if alert.escalate_at is not None:
                    alert.escalate_at = max(alert.escalate_at, until)
            bump(s, alert_id)
            audit.record(
                s,
                "alert_snoozed" if until else "alert_woken",
                actor=who.user_id or "unknown",
                account_id=alert.account_id,
                alert_id=alert_id,
                until=until.isoformat() if until else None,
            )
        self._deliver(alert_id)

    def assign(self, alert_id: int, who: Requester, assignee: str | None) -> None:
        self.access.authorize(who, alert_id, action="assign")
        if assignee is not None and not USER.match(assignee):
            raise ValueError("not a Slack user id")
        with transaction(self.sessions) as s:
            alert = self._open(s, alert_id)
            alert.assignee, alert.assigned_by = (assignee, who.user_id) if assignee else (None, None)
            bump(s, alert_id)
            audit.record(
                s,
                "alert_assigned",
                actor=who.user_id or "unknown",
                account_id=alert.account_id,
                alert_id=alert_id,
                assignee=assignee,
            )
            if assignee is not None and assignee != who.user_id:
                # an edited message notifies nobody: a reply that mentions them does
                add_reply(s, alert_id, "assigned", assignee=assignee, by=who.user_id)
        self._deliver(alert_id)

    def _deliver(self, alert_id: int) -> None:
        try:
            self.outbox.deliver(alert_id)
        except SlackError as exc:
            log.warning("alert %s not updated now (%s); the poller will retry", alert_id, exc.code)

    @staticmethod
    def _open(s: Session, alert_id: int) -> Alert:
        alert = s.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            raise NotSettleable("gone")
        if alert.state in ALERT_DONE:
            raise NotSettleable("paid" if alert.state == AlertState.PAID else "closed", by=alert.paid_by)
        return alert
