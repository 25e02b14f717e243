"""One alert's Slack message, made to show exactly what the database says.

Exactly-once posting rests on three things: the alert row is written before anything is posted
(an outbox), a lease lets one deliverer at a time work on it, and every posted message carries
metadata naming its alert, so a deliverer that finds an earlier attempt unfinished (a crash
between Slack's answer and our commit) looks in the channel's history before posting again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.routing import default_channel
from bot.delivery.ports import AlertRenderer
from bot.domain.chat import (
    ALERT_EVENT_TYPE,
    ChannelUnavailable,
    MessageGone,
    SlackAuthError,
    SlackError,
    SlackGateway,
    Workspaces,
)
from bot.observe.metrics import ALERTS_POSTED
from bot.read.cards import AlertCard, card_of
from storage import audit
from storage.db import reading, transaction
from storage.leases import new_owner, owner_is_dead
from storage.models import Alert, AlertReply

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
HISTORY_SLACK = timedelta(minutes=5)


@dataclass
class DeliveryReport:
    posted: int = 0
    updated: int = 0
    recovered: int = 0
    failed: list[str] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.posted += other.posted
        self.updated += other.updated
        self.recovered += other.recovered
        self.failed.extend(other.failed)


class AlertDeliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SlackGateway,
        workspaces: Workspaces,
        renderer: AlertRenderer,
        fallback_channel: str | None,
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.workspaces = workspaces  # which workspace each alert goes to
        self.renderer = renderer
        self.fallback_channel = fallback_channel
        self.owner = owner or new_owner()
        # told after an alert changed in Slack (a decline, a payment, a settlement): App Home follows
        self.on_change: Callable[[], None] | None = None

    def deliver_one(self, alert_id: int) -> DeliveryReport:
        """One alert, its failure counted in the report (a revoked token is raised: nothing will work)."""
        report = DeliveryReport()
        try:
            self.deliver(alert_id, report)
        except SlackAuthError:
            raise
        except SlackError as exc:
            log.warning("alert %s not delivered: %s", alert_id, exc.code)
            report.failed.append(f"alert {alert_id}: {exc.code}")
        return report

    def deliver(self, alert_id: int, report: DeliveryReport | None = None) -> bool:
        """Bring one alert's Slack message up to date; False when another deliverer holds it."""
        report = report or DeliveryReport()
        claimed = self._claim(alert_id)
        if claimed is None:
            return False
        released = False
        try:
            released = self._sync(alert_id, claimed, report)
        finally:
            if not released:
                self._release(alert_id)
        if self.on_change is not None:
            self.on_change()
        return True

    # --- lease ---------------------------------------------------------------------------------

    def _claim(self, alert_id: int) -> int | None:
        """Lease the alert; returns how many post attempts were made before this one.

        One conditional UPDATE when the alert is free (the usual case); a lease held by a process
        on this host that died is looked at only when that fails."""
        now = datetime.now(UTC)
        free = or_(Alert.claimed_by.is_(None), Alert.claimed_until <= now, Alert.claimed_by == self.owner)
        with transaction(self.sessions) as s:
            won = self._take(s, alert_id, free, now)
            if won is not None:
                return won
            holder = s.execute(
                select(Alert.claimed_by).where(Alert.id == alert_id, Alert.version > Alert.synced_version)
            ).scalar_one_or_none()
            if holder is None or not owner_is_dead(holder):
                return None
            return self._take(s, alert_id, Alert.claimed_by == holder, now)

    def _take(self, s: Session, alert_id: int, free: Any, now: datetime) -> int | None:
        row = s.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.version > Alert.synced_version, free)
            .values(
                claimed_by=self.owner,
                claimed_until=now + LEASE,
                post_attempts=Alert.post_attempts + case((Alert.ts.is_(None), 1), else_=0),
            )
            .returning(Alert.post_attempts, Alert.ts)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if row is None:
            return None
        attempts, ts = row
        return int(attempts) - (1 if ts is None else 0)

    def _release(self, alert_id: int) -> None:
        with transaction(self.sessions) as s:
            s.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.claimed_by == self.owner)
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    # --- sync ----------------------------------------------------------------------------------

    def _sync(self, alert_id: int, previous_attempts: int, report: DeliveryReport) -> bool:
        """Returns True when the lease was released with the last record (one transaction less)."""
        with reading(self.sessions) as s:
            card = card_of(s, alert_id)
            alert = s.get(Alert, alert_id)  # loaded with the card
            assert card is not None and alert is not None
            account = alert.account
            version, channel, ts = alert.version, alert.channel, alert.ts
            created = alert.created_at
            # its workspace: the one it was posted in, else its account's
            team = self.workspaces.resolve(alert.team_id or (account.team if account else None))
            default = default_channel(s, team, self.fallback_channel)  # its workspace's, else SETTLE_ALERT_CHANNEL
            target = (account.channel if account else None) or default
            waiting = self._waiting_replies(s, alert_id)
        text, blocks = self.renderer.text(card), self.renderer.blocks(card)
        if ts is not None and channel is not None:
            try:
                self.gateway.update(team, channel, ts, text, blocks)
                self._post_replies(team, card, channel, ts, waiting)
                self._synced(team, card.account_id, alert_id, version, channel, ts, first=False, release=True)
                report.updated += 1
                return True
            except (MessageGone, ChannelUnavailable) as exc:
                log.warning("alert %s message gone (%s); posting it again", alert_id, exc.code)
                with transaction(self.sessions) as s:
                    audit.record(
                        s,
                        "alert_message_lost",
                        account_id=card.account_id,
                        error=exc.code,
                        channel=channel,
                        ts=ts,
                    )
                previous_attempts = 0

        if previous_attempts > 0:
            oldest = (created - HISTORY_SLACK).timestamp()
            for where in dict.fromkeys(c for c in (target, default) if c):
                found = self.gateway.find_alert(team, where, alert_id, oldest)
                if found is not None:
                    log.info("alert %s was already posted (%s %s): recorded, not re-posted", alert_id, *found)
                    self.gateway.update(team, found[0], found[1], text, blocks)  # it may show an older rendering
                    self._synced(team, card.account_id, alert_id, 0, found[0], found[1], first=True, recovered=True)
                    self._post_replies(team, card, found[0], found[1], waiting)
                    self._synced(
                        team, card.account_id, alert_id, version, found[0], found[1], first=False, release=True
                    )
                    report.recovered += 1
                    return True

        if target is None:
            raise SlackError("no_channel_configured")
        metadata = {
            "event_type": ALERT_EVENT_TYPE,
            "event_payload": {"alert_id": alert_id, "account_id": card.account_id},
        }
        fallback_reason = None
        try:
            posted = self._post_joining(team, target, text, blocks, metadata)
        except ChannelUnavailable as exc:
            if not default or default == target:
                raise
            fallback_reason = exc.code
            log.warning("alert %s: %s in %s; using the default channel %s", alert_id, exc.code, target, default)
            with transaction(self.sessions) as s:
                row = s.get(Alert, alert_id)
                assert row is not None
                row.fallback_reason = exc.code
                s.flush()
                fresh = card_of(s, alert_id)
                assert fresh is not None
                card = fresh
                audit.record(
                    s,
                    "alert_channel_fallback",
                    account_id=card.account_id,
                    error=exc.code,
                    channel=target,
                    fallback=default,
                )
            text, blocks = self.renderer.text(card), self.renderer.blocks(card)
            posted = self._post_joining(team, default, text, blocks, metadata)
        if waiting:  # its ts first, so a crash while replying never posts the alert again
            self._synced(team, card.account_id, alert_id, 0, *posted, first=True, fallback_reason=fallback_reason)
            self._post_replies(team, card, posted[0], posted[1], waiting)
        self._synced(
            team,
            card.account_id,
            alert_id,
            version,
            *posted,
            first=not waiting,
            fallback_reason=fallback_reason,
            release=True,
        )
        report.posted += 1
        ALERTS_POSTED.inc()
        return True

    @staticmethod
    def _waiting_replies(s: Session, alert_id: int) -> list[AlertReply]:
        return list(
            s.scalars(
                select(AlertReply)
                .where(AlertReply.alert_id == alert_id, AlertReply.ts.is_(None))
                .order_by(AlertReply.id)
            )
        )

    def _post_replies(
        self, team: str | None, card: AlertCard, channel: str, ts: str, waiting: list[AlertReply]
    ) -> None:
        """Thread replies waiting under this alert, oldest first, each recorded once posted.

        A reply added after `waiting` was read bumped the alert, so the next delivery posts it."""
        for reply in waiting:
            text = self.renderer.reply(card, reply.kind, reply.detail)
            if reply.channel:  # a message of its own elsewhere (an escalation to the alert channel)
                try:
                    # no alert metadata: after a crash, only the alert itself is found by it
                    _, reply_ts = self._post_joining(team, reply.channel, text, [], None)
                except ChannelUnavailable as exc:
                    log.warning("alert %s: %s not posted to %s: %s", card.alert_id, reply.kind, reply.channel, exc.code)
                    reply_ts = "unposted"
            else:
                _, reply_ts = self.gateway.post(team, channel, text, [], thread_ts=ts, reply_broadcast=reply.broadcast)
            with transaction(self.sessions) as s:
                s.execute(update(AlertReply).where(AlertReply.id == reply.id).values(ts=reply_ts))

    def _post_joining(
        self, team: str | None, channel: str, text: str, blocks: list[Any], metadata: dict[str, Any] | None
    ) -> tuple[str, str]:
        try:
            return self.gateway.post(team, channel, text, blocks, metadata)
        except ChannelUnavailable as exc:
            if exc.code != "not_in_channel" or not self.gateway.join(team, channel):
                raise
            return self.gateway.post(team, channel, text, blocks, metadata)

    def _synced(
        self,
        team: str | None,
        account_id: str,
        alert_id: int,
        version: int,
        channel: str,
        ts: str,
        *,
        first: bool,
        recovered: bool = False,
        fallback_reason: str | None = None,
        release: bool = False,
    ) -> None:
        """Record where the message is and which version it shows; the lease makes this deliverer the
        only writer of `ts`, so `first` (no ts before) is known without reading the row again."""
        values: dict[str, Any] = {
            "channel": channel,
            "ts": ts,
            "team_id": team,
            "synced_version": case((Alert.synced_version < version, version), else_=Alert.synced_version),
        }
        if release:  # only a lease that is still ours
            mine = Alert.claimed_by == self.owner
            values.update(
                claimed_by=case((mine, None), else_=Alert.claimed_by),
                claimed_until=case((mine, None), else_=Alert.claimed_until),
            )
        with transaction(self.sessions) as s:
            s.execute(
                update(Alert).where(Alert.id == alert_id).values(**values).execution_options(synchronize_session=False)
            )
            if first:
                audit.record(
                    s,
                    "alert_recovered" if recovered else "alert_posted",
                    account_id=account_id,
                    alert_id=alert_id,
                    channel=channel,
                    ts=ts,
                    fallback=fallback_reason,
                )
