"""One alert's Slack message, made to show exactly what the database says.

Exactly-once posting rests on three things: the alert row is written before anything is posted
(an outbox), a lease lets one attempt at a time work on it, and every posted message carries
metadata naming its alert, so a deliverer that finds an earlier attempt unfinished (a crash between
Slack's answer and our commit) looks in the channel's history before posting again. In a storm the
alert joins its channel's digest instead of getting a message of its own (storms.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.routing import default_channel
from bot.delivery.leases import Claim, claim, release, synced_values
from bot.delivery.ports import AlertRenderer
from bot.delivery.storms import Storms
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
from bot.read.cards import AlertCard, card_of, cards_and_rows
from storage import audit
from storage.db import grouped, reading, transaction
from storage.leases import new_owner
from storage.models import Alert

log = logging.getLogger(__name__)

HISTORY_SLACK = timedelta(minutes=5)


@dataclass
class DeliveryReport:
    posted: int = 0
    updated: int = 0
    recovered: int = 0
    digested: int = 0  # alerts told in their channel's digest instead
    messages: int = 0  # replies, escalations, warnings, digests, reports posted or updated
    failed: list[str] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.posted += other.posted
        self.updated += other.updated
        self.recovered += other.recovered
        self.digested += other.digested
        self.messages += other.messages
        self.failed.extend(other.failed)


def post_joining(
    gateway: SlackGateway,
    team: str | None,
    channel: str,
    text: str,
    blocks: list[Any],
    metadata: dict[str, Any] | None,
    **thread: Any,
) -> tuple[str, str]:
    """Post, joining a public channel the bot is not in yet."""
    try:
        return gateway.post(team, channel, text, blocks, metadata, **thread)
    except ChannelUnavailable as exc:
        if exc.code != "not_in_channel" or not gateway.join(team, channel):
            raise
        return gateway.post(team, channel, text, blocks, metadata, **thread)


@dataclass(frozen=True)
class Snapshot:
    """What a delivery needs to know of its alert, read before it was claimed or after."""

    card: AlertCard
    version: int
    channel: str | None
    ts: str | None
    digest_id: int | None
    created: datetime
    team: str | None
    default: str | None  # its workspace's alert channel, else SETTLE_ALERT_CHANNEL
    target: str | None  # its account's channel, else the default


class AlertDeliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SlackGateway,
        workspaces: Workspaces,
        renderer: AlertRenderer,
        fallback_channel: str | None,
        owner: str | None = None,
        *,
        storms: Storms | None = None,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.workspaces = workspaces  # which workspace each alert goes to
        self.renderer = renderer
        self.fallback_channel = fallback_channel
        self.owner = owner or new_owner()
        self.storms = storms
        # told after an alert changed in Slack (a decline, a payment, a settlement): App Home follows,
        # and the courier (its replies may wait for the alert's message)
        self.on_change: Callable[[], None] | None = None
        self._prepared: dict[int, Snapshot] = {}
        self._prepared_lock = threading.Lock()

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
        """Bring one alert's Slack message up to date; False when another attempt holds it."""
        report = report or DeliveryReport()
        claimed = claim(self.sessions, Alert, alert_id, self.owner)
        if claimed is None:
            return False
        released = False
        try:
            released = self._sync(alert_id, claimed, report)
        finally:
            if not released:
                release(self.sessions, Alert, alert_id, claimed.token)
        if self.on_change is not None:
            self.on_change()
        return True

    # --- sync ----------------------------------------------------------------------------------

    def prepare(self, alert_ids: list[int]) -> None:
        """Read these alerts as they are now, all at once (a few queries for a page of a renewal
        day, not a few for each): a delivery that finds its alert unchanged since uses this reading."""
        if not alert_ids:
            return
        with reading(self.sessions) as s:
            defaults: dict[str | None, str | None] = {}
            for card, alert in cards_and_rows(s, alert_ids):
                snap = self._snap(s, card, alert, defaults)
                with self._prepared_lock:
                    self._prepared[card.alert_id] = snap

    def forget_prepared(self) -> None:
        with self._prepared_lock:
            self._prepared.clear()

    def _snap(self, s: Session, card: AlertCard, alert: Alert, defaults: dict[str | None, str | None]) -> Snapshot:
        account = alert.account
        # its workspace: the one it was posted in, else its account's
        team = self.workspaces.resolve(alert.team_id or (account.team if account else None))
        if team not in defaults:  # its workspace's, else SETTLE_ALERT_CHANNEL
            defaults[team] = default_channel(s, team, self.fallback_channel)
        default = defaults[team]
        target = (account.channel if account else None) or default
        return Snapshot(
            card, alert.version, alert.channel, alert.ts, alert.digest_id, alert.created_at, team, default, target
        )

    def _snapshot(self, alert_id: int, claimed: Claim) -> Snapshot:
        """The alert as prepared, if nothing changed since (same version, no message recorded: the
        lease holder is the only writer of those), else read now."""
        with self._prepared_lock:
            snap = self._prepared.pop(alert_id, None)
        if snap is not None and snap.version == claimed.version and snap.ts == claimed.ts:
            return snap
        with reading(self.sessions) as s:
            ((card, alert),) = cards_and_rows(s, [alert_id])
            return self._snap(s, card, alert, {})

    def _sync(self, alert_id: int, claimed: Claim, report: DeliveryReport) -> bool:
        """Returns True when the lease was released with the last record (one transaction less)."""
        snap = self._snapshot(alert_id, claimed)
        card, version, channel, ts, digest_id = snap.card, snap.version, snap.channel, snap.ts, snap.digest_id
        created, team, default, target = snap.created, snap.team, snap.default, snap.target
        previous_attempts = claimed.previous_attempts
        if ts is None and digest_id is not None:  # told in its channel's digest: that one moves on
            self._in_digest(alert_id, digest_id, version, claimed.token, first=False)
            report.updated += 1  # a round that moved a digest on leaves its edit for the next round
            return True
        text, blocks = self.renderer.text(card), self.renderer.blocks(card)
        if ts is not None and channel is not None:
            try:
                self.gateway.update(team, channel, ts, text, blocks)
                self._synced(team, card.account_id, alert_id, version, channel, ts, claimed.token, first=False)
                report.updated += 1
                return True
            except (MessageGone, ChannelUnavailable) as exc:
                log.warning("alert %s message gone (%s); posting it again", alert_id, exc.code)
                with transaction(self.sessions) as s:
                    audit.record(
                        s, "alert_message_lost", account_id=card.account_id, error=exc.code, channel=channel, ts=ts
                    )
                previous_attempts = 0

        if previous_attempts > 0:
            oldest = (created - HISTORY_SLACK).timestamp()
            for where in dict.fromkeys(c for c in (target, default) if c):
                found = self.gateway.find_message(team, where, ALERT_EVENT_TYPE, "alert_id", alert_id, oldest)
                if found is not None:
                    log.info("alert %s was already posted (%s %s): recorded, not re-posted", alert_id, where, found)
                    self.gateway.update(team, where, found, text, blocks)  # it may show an older rendering
                    self._synced(
                        team,
                        card.account_id,
                        alert_id,
                        version,
                        where,
                        found,
                        claimed.token,
                        first=True,
                        recovered=True,
                    )
                    report.recovered += 1
                    return True
        elif ts is None and self.storms is not None and target is not None:
            joined = self.storms.joins(alert_id, team, target)
            if joined is not None:
                self._in_digest(alert_id, joined, version, claimed.token, first=True)
                report.digested += 1
                return True

        if target is None:
            raise SlackError("no_channel_configured")
        metadata = {
            "event_type": ALERT_EVENT_TYPE,
            "event_payload": {"alert_id": alert_id, "account_id": card.account_id},
        }
        fallback_reason = None
        try:
            posted = post_joining(self.gateway, team, target, text, blocks, metadata)
        except ChannelUnavailable as exc:
            if not default or default == target:
                raise
            fallback_reason = exc.code
            log.warning("alert %s: %s in %s; using the default channel %s", alert_id, exc.code, target, default)
            with transaction(self.sessions) as s:
                row = s.get(Alert, alert_id)
                assert row is not None
                row.fallback_reason = exc.code
                audit.record(
                    s,
                    "alert_channel_fallback",
                    account_id=card.account_id,
                    error=exc.code,
                    channel=target,
                    fallback=default,
                )
            with reading(self.sessions) as s:
                fresh = card_of(s, alert_id)
            assert fresh is not None
            text, blocks = self.renderer.text(fresh), self.renderer.blocks(fresh)
            posted = post_joining(self.gateway, team, default, text, blocks, metadata)
        self._synced(
            team,
            card.account_id,
            alert_id,
            version,
            *posted,
            claimed.token,
            first=True,
            fallback_reason=fallback_reason,
        )
        report.posted += 1
        ALERTS_POSTED.inc()
        return True

    def _synced(
        self,
        team: str | None,
        account_id: str,
        alert_id: int,
        version: int,
        channel: str,
        ts: str,
        token: str,
        *,
        first: bool,
        recovered: bool = False,
        fallback_reason: str | None = None,
    ) -> None:
        """Record where the message is and which version it shows, and end the lease; the lease makes
        this attempt the only writer of `ts`, so `first` (no ts before) is known without reading."""
        values: dict[str, Any] = {
            "channel": channel,
            "ts": ts,
            "team_id": team,
            **synced_values(Alert, version, token, release=True),
        }
        if first:
            values["posted_at"] = datetime.now(UTC)

        def record(s: Session) -> None:
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

        grouped(self.sessions, record)  # with the other deliverers' records: one commit for many

    def _in_digest(self, alert_id: int, digest_id: int, version: int, token: str, *, first: bool) -> None:
        """The alert is told in its digest: recorded as shown, and the digest's message moves on."""
        assert self.storms is not None or not first
        with transaction(self.sessions) as s:
            s.execute(
                update(Alert)
                .where(Alert.id == alert_id)
                .values(**synced_values(Alert, version, token, release=True))
                .execution_options(synchronize_session=False)
            )
            Storms.changed(s, digest_id)
            if first:
                alert = s.get(Alert, alert_id)
                assert alert is not None
                audit.record(s, "alert_in_digest", account_id=alert.account_id, alert_id=alert_id, digest_id=digest_id)
