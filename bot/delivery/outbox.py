"""Alert delivery: render an alert from the database and make Slack show exactly that.

Exactly-once posting rests on three things: the alert row is written before anything is posted
(an outbox), a lease lets one deliverer at a time work on it, and every posted message carries
metadata naming its invoice, so a deliverer that finds an earlier attempt unfinished (a crash
between Slack's answer and our commit) looks in the channel's history before posting again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.ports import AlertRenderer
from bot.domain.states import ALERT_DONE, AlertState, InvoiceState, SettlementStatus
from bot.observe.metrics import ALERTS_POSTED
from bot.read.model import AlertCard, alert_card
from bot.slack.gateway import (
    ALERT_EVENT_TYPE,
    ChannelUnavailable,
    MessageGone,
    SlackAuthError,
    SlackError,
    SlackGateway,
)
from bot.slack.pacing import ChannelPacer
from bot.slack.workspaces import current_workspace, default_channel, in_workspace, workspaces_of
from storage import audit
from storage.db import reading, transaction
from storage.models import Account, Alert, AlertInvoice, AlertReply, Settlement, WorkspaceSetting

if TYPE_CHECKING:
    from slack_sdk.models.blocks import Block

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
DELIVERY_CONCURRENCY = 16  # Slack calls in flight at once when delivering many alerts
HISTORY_SLACK = timedelta(minutes=5)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str | None) -> bool:
    """A lease held by a process on this host that no longer exists can be taken over at once."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    if int(pid_s) == os.getpid():
        return False
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def bump(session: Session, alert_id: int) -> None:
    """Mark an alert as changed so the deliverer re-renders it in Slack."""
    session.execute(update(Alert).where(Alert.id == alert_id).values(version=Alert.version + 1))


def sync_state(session: Session, alert: Alert) -> None:
    """Derive the alert's state from its invoices and the settlements holding them, and bump it.

    Over once no invoice is open: paid if every one was, closed if some were voided or written off;
    else waiting for the bank while a verification is pending; else being settled while a charge
    is in flight; else open."""
    session.flush()
    open_ids = [ai.invoice_id for ai in alert.invoices if ai.state == InvoiceState.OPEN]
    if not open_ids and alert.invoices:
        if alert.state not in ALERT_DONE:
            paid = [ai for ai in alert.invoices if ai.state == InvoiceState.PAID]
            done = all(ai.state == InvoiceState.PAID for ai in alert.invoices)
            alert.state = AlertState.PAID if done else AlertState.CLOSED
            last = max(paid, key=lambda ai: ai.paid_at or datetime.min.replace(tzinfo=UTC)) if paid else None
            alert.paid_at = (last.paid_at if last else None) or datetime.now(UTC)
            alert.paid_by, alert.paid_with = (last.paid_by, last.paid_with) if last else (None, None)
            alert.pending_by, alert.note, alert.note_by = None, None, None
            alert.remind_at, alert.escalate_at = None, None  # nothing left to follow up
    else:
        holders = list(
            session.execute(
                select(Settlement.status, Settlement.user_id).where(
                    Settlement.invoice_id.in_(open_ids),
                    Settlement.status.in_((SettlementStatus.REQUIRES_ACTION, SettlementStatus.CHARGING)),
                )
            )
        )
        waiting = [user for status, user in holders if status == SettlementStatus.REQUIRES_ACTION]
        charging = [user for status, user in holders if status == SettlementStatus.CHARGING]
        if charging:
            alert.state, alert.pending_by = AlertState.SETTLING, charging[0]
        elif waiting:
            alert.state, alert.pending_by = AlertState.VERIFICATION_PENDING, waiting[0]
        else:
            alert.state, alert.pending_by = AlertState.OPEN, None
    session.flush()
    bump(session, alert.id)


def mark_invoice_paid(
    session: Session,
    ai: AlertInvoice,
    *,
    source: str,
    by: str | None = None,
    card: str | None = None,
    settlement_id: int | None = None,
) -> bool:
    """An invoice of the balance was paid (by a settlement, or outside Settle as the provider says):
    record it and re-derive the alert. False when it was already recorded."""
    if ai.state == InvoiceState.PAID:
        if by and ai.paid_by is None:  # the feed said "paid" first; now we know who paid it
            ai.paid_by, ai.paid_with = by, card
            alert = session.get(Alert, ai.alert_id, with_for_update=True)
            assert alert is not None
            if alert.state == AlertState.PAID and alert.paid_by is None:
                alert.paid_by, alert.paid_with = by, card
            sync_state(session, alert)
        return False
    return close_invoice(session, ai, InvoiceState.PAID, source=source, by=by, card=card, settlement_id=settlement_id)


def close_invoice(
    session: Session,
    ai: AlertInvoice,
    state: InvoiceState,
    *,
    source: str,
    by: str | None = None,
    card: str | None = None,
    settlement_id: int | None = None,
) -> bool:
    """An invoice left the balance: paid, voided or written off. False when it already had.

    A payment Settle saw wins over a void the feed reports late (the money moved)."""
    if ai.state != InvoiceState.OPEN:
        return False
    ai.state, ai.paid_at = state, datetime.now(UTC)
    if state == InvoiceState.PAID:
        ai.paid_by, ai.paid_with = by, card
    alert = session.get(Alert, ai.alert_id, with_for_update=True)
    assert alert is not None
    if source != "settlement":
        audit.record(
            session,
            "invoice_paid" if state == InvoiceState.PAID else f"invoice_{state.value}",
            account_id=alert.account_id,
            invoice_id=ai.invoice_id,
            amount_minor=ai.amount_minor,
            currency=ai.currency,
            source=source,
            settlement_id=settlement_id,
        )
    sync_state(session, alert)
    return True


def add_reply(session: Session, alert_id: int, kind: str, *, broadcast: bool = False, **detail: Any) -> None:
    """A thread reply under the alert, posted by the deliverer after the alert itself (bumps it)."""
    session.add(
        AlertReply(alert_id=alert_id, kind=kind, detail=detail, broadcast=broadcast, created_at=datetime.now(UTC))
    )
    session.flush()
    bump(session, alert_id)


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
        renderer: AlertRenderer,
        fallback_channel: str | None,
        owner: str | None = None,
        *,
        pacer: ChannelPacer | None = None,
        concurrency: int = DELIVERY_CONCURRENCY,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.renderer = renderer
        self.fallback_channel = fallback_channel
        self.owner = owner or new_owner()
        # the gateway's own pacer when it has one, so the dispatcher and the posts share one budget
        self.pacer = pacer or getattr(gateway, "pacer", None) or ChannelPacer()
        # which workspace each alert goes to, and which can be reached now (the gateway's, if it has one)
        self.workspaces = workspaces_of(gateway)
        self.concurrency = max(1, concurrency)
        self._stopping = threading.Event()
        # told after an alert changed in Slack (a decline, a payment, a settlement): App Home follows
        self.on_change: Callable[[], None] | None = None

    def stop(self) -> None:
        """Shutting down: deliveries under way finish and are recorded; no new one starts in
        `deliver_all` (what is left is posted by the next poll, by this replica or another)."""
        self._stopping.set()

    def _pending_by_channel(self) -> dict[str, deque[int]]:
        """Alerts whose Slack message is behind, grouped by the channel they are (or will be) in.

        With many workspaces, alerts of a workspace that has no bot token now (it removed Settle)
        are left for when it installs Settle again: no Slack call is spent on them."""
        reachable = self.workspaces.installed()
        waiting = 0
        with reading(self.sessions) as s:
            channels = {t: c for t, c in s.execute(select(WorkspaceSetting.team_id, WorkspaceSetting.alert_channel))}
            rows = s.execute(
                select(
                    Alert.id,
                    Alert.channel,
                    Account.mapped_channel,
                    Account.slack_channel,
                    Alert.team_id,
                    Account.team,
                )
                .outerjoin(Account, Account.id == Alert.account_id)
                .where(Alert.version > Alert.synced_version)
                .order_by(Alert.id)
            )
            queues: dict[str, deque[int]] = {}
            for alert_id, posted_in, mapped, from_provider, posted_team, account_team in rows:
                workspace = self.workspaces.resolve(posted_team or account_team)
                if reachable is not None and workspace not in reachable:
                    waiting += 1
                    continue
                default = (channels.get(workspace) if workspace else None) or self.fallback_channel
                where = posted_in or mapped or from_provider or default or ""
                queues.setdefault(where, deque()).append(alert_id)
        if waiting:
            log.info("%d alerts wait for their Slack workspace to install Settle", waiting)
        return queues

    def deliver_all(self) -> DeliveryReport:
        """Deliver every pending alert: channels concurrently (at most `concurrency` calls in flight),
        each channel's alerts one after another at the pace Slack allows it.

        A channel is handed to one worker at a time and comes back into the queue at its next
        slot, so waiting for one channel's budget never holds a worker other channels could use.
        Exactly-once is unchanged: each alert is still claimed and recorded on its own."""
        report = DeliveryReport()
        queues = self._pending_by_channel()
        if not queues:
            return report
        ready: list[tuple[float, int, str]] = []  # (when the channel may be posted to, tiebreak, channel)
        order = itertools.count()
        for channel in queues:
            heapq.heappush(ready, (self.pacer.ready_at(channel), next(order), channel))
        running: dict[Future[DeliveryReport], str] = {}
        fatal: SlackAuthError | None = None
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="deliver") as pool:
            while (ready and fatal is None and not self._stopping.is_set()) or running:
                now = self.pacer.clock()
                go_on = fatal is None and not self._stopping.is_set()
                while ready and go_on and len(running) < self.concurrency and ready[0][0] <= now:
                    _, _, channel = heapq.heappop(ready)
                    running[pool.submit(self._deliver_one, queues[channel].popleft())] = channel
                timeout = max(ready[0][0] - now, 0.0) if ready and len(running) < self.concurrency else None
                if not running:
                    self._stopping.wait(timeout or 0.0)
                    continue
                done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    channel = running.pop(future)
                    try:
                        report.merge(future.result())
                    except SlackAuthError as exc:
                        fatal = exc
                    if queues[channel]:
                        heapq.heappush(ready, (self.pacer.ready_at(channel), next(order), channel))
        if fatal is not None:
            raise fatal
        return report

    def _deliver_one(self, alert_id: int) -> DeliveryReport:
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
            if holder is None or not _owner_is_dead(holder):
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
            alert = s.get(Alert, alert_id)
            assert alert is not None
            account = s.get(Account, alert.account_id)
            card = alert_card(s, alert)
            version, channel, ts = alert.version, alert.channel, alert.ts
            created = alert.created_at
            team = self.workspaces.resolve(alert.team_id or (account.team if account else None))
            default = default_channel(s, team, self.fallback_channel)  # its workspace's, else SETTLE_ALERT_CHANNEL
            target = (account.channel if account else None) or default
            waiting = self._waiting_replies(s, alert_id)
        text, blocks = self.renderer.text(card), self.renderer.blocks(card)
        with in_workspace(team):  # its workspace: the one it was posted in, else its account's
            if ts is not None and channel is not None:
                try:
                    self.gateway.update(channel, ts, text, blocks)
                    self._post_replies(card, channel, ts, waiting)
                    self._synced(card.account_id, alert_id, version, channel, ts, first=False, release=True)
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
                    found = self.gateway.find_alert(where, alert_id, oldest)
                    if found is not None:
                        log.info("alert %s was already posted (%s %s): recorded, not re-posted", alert_id, *found)
                        self.gateway.update(found[0], found[1], text, blocks)  # it may show an older rendering
                        self._synced(card.account_id, alert_id, 0, found[0], found[1], first=True, recovered=True)
                        self._post_replies(card, found[0], found[1], waiting)
                        self._synced(card.account_id, alert_id, version, found[0], found[1], first=False, release=True)
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
                posted = self._post_joining(target, text, blocks, metadata)
            except ChannelUnavailable as exc:
                if not default or default == target:
                    raise
                fallback_reason = exc.code
                log.warning("alert %s: %s in %s; using the default channel %s", alert_id, exc.code, target, default)
                with transaction(self.sessions) as s:
                    row = s.get(Alert, alert_id)
                    assert row is not None
                    row.fallback_reason = exc.code
                    card = alert_card(s, row)
                    audit.record(
                        s,
                        "alert_channel_fallback",
                        account_id=card.account_id,
                        error=exc.code,
                        channel=target,
                        fallback=default,
                    )
                text, blocks = self.renderer.text(card), self.renderer.blocks(card)
                posted = self._post_joining(default, text, blocks, metadata)
            if waiting:  # its ts first, so a crash while replying never posts the alert again
                self._synced(card.account_id, alert_id, 0, *posted, first=True, fallback_reason=fallback_reason)
                self._post_replies(card, posted[0], posted[1], waiting)
            self._synced(
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

    def _post_replies(self, card: AlertCard, channel: str, ts: str, waiting: list[AlertReply]) -> None:
        """Thread replies waiting under this alert, oldest first, each recorded once posted.

        A reply added after `waiting` was read bumped the alert, so the next delivery posts it."""
        for reply in waiting:
            text = self.renderer.reply(card, reply.kind, reply.detail)
            if reply.channel:  # a message of its own elsewhere (an escalation to the alert channel)
                try:
                    # no alert metadata: after a crash, only the alert itself is found by it
                    _, reply_ts = self._post_joining(reply.channel, text, [], None)
                except ChannelUnavailable as exc:
                    log.warning("alert %s: %s not posted to %s: %s", card.alert_id, reply.kind, reply.channel, exc.code)
                    reply_ts = "unposted"
            else:
                _, reply_ts = self.gateway.post(channel, text, [], thread_ts=ts, reply_broadcast=reply.broadcast)
            with transaction(self.sessions) as s:
                s.execute(update(AlertReply).where(AlertReply.id == reply.id).values(ts=reply_ts))

    def _post_joining(
        self, channel: str, text: str, blocks: list[Block], metadata: dict[str, Any] | None
    ) -> tuple[str, str]:
        try:
            return self.gateway.post(channel, text, blocks, metadata)
        except ChannelUnavailable as exc:
            if exc.code != "not_in_channel" or not self.gateway.join(channel):
                raise
            return self.gateway.post(channel, text, blocks, metadata)

    def _synced(
        self,
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
            "team_id": current_workspace(),
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
