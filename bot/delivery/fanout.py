"""Everything pending brought up to date in Slack, a round at a time: alerts and the outbox's messages
grouped by channel, channels side by side, each channel at the pace Slack allows it (about one
message a second), on the one delivery pool the composition root made. What is recorded while a
round runs joins it (the round looks again when it is woken), so delivery starts with the first page
of a renewal day, not after the last."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, or_, select

from bot.delivery.messages import MessageDeliverer
from bot.delivery.outbox import AlertDeliverer, DeliveryReport
from bot.domain.chat import SlackAuthError
from bot.slack.pacing import ChannelPacer
from storage.db import reading
from storage.models import Account, Alert, Message, WorkspaceSetting

log = logging.getLogger(__name__)

DELIVERY_CONCURRENCY = 32  # Slack calls in flight at once when delivering many messages
DIGEST_UPDATE_EVERY = timedelta(seconds=2)  # a growing digest is edited at most this often
# A channel's next message is handed out this long before its slot: the worker claims, reads and
# renders it meanwhile and waits out the rest in the gateway's pacer, so the post leaves at the slot
# (otherwise every message in a busy channel came that much later than Slack allows, and a channel of
# ten on renewal day took ten seconds and a second and a half).
LEAD = 0.3
RETRY_FIRST, RETRY_MOST = 2.0, 300.0  # a failed delivery is tried again after 2 s, 4 s, ... at most 5 min

Kind = Literal["alert", "message"]
Item = tuple[Kind, int]


class FanOut:
    def __init__(
        self,
        alerts: AlertDeliverer,
        messages: MessageDeliverer,
        pool: Executor,
        pacer: ChannelPacer,
        concurrency: int = DELIVERY_CONCURRENCY,
    ) -> None:
        self.alerts = alerts
        self.messages = messages
        self.pool = pool
        self.pacer = pacer  # the gateway's: the dispatcher and the posts share one budget per channel
        self.concurrency = max(1, concurrency)
        self._stopping = threading.Event()
        self._round = threading.Lock()  # one round at a time in a process (the courier's, or a drain)
        self.deferred = False  # the last round left a digest to edit a little later
        self._delivered = DeliveryReport()  # every round's, until a drain takes them (under `_round`)
        self._failures: dict[Item, tuple[int, float]] = {}  # item -> (failed attempts, when to try again)

    def stop(self) -> None:
        """Shutting down: deliveries under way finish and are recorded; no new one starts (what is
        left is posted by the next round, on this replica or another)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def next_retry(self) -> float | None:
        """When the earliest failed delivery may be tried again (the pacer's clock), if any failed."""
        return min((at for _, at in self._failures.values()), default=None)

    def pending_by_channel(
        self, now: datetime | None = None, *, backing_off: bool = True
    ) -> dict[str, list[tuple[datetime, Item]]]:
        """Alerts and messages whose Slack message is behind, grouped by the channel they are (or will
        be) in, oldest first.

        With many workspaces, those of a workspace that has no bot token now (it removed Settle) are
        left for when it installs Settle again: no Slack call is spent on them. One that failed a moment
        ago waits out its back-off (`backing_off`; a drain tries everything once)."""
        now = now or datetime.now(UTC)
        clock = self.pacer.clock()
        held = {item for item, (_, at) in self._failures.items() if at > clock} if backing_off else set()
        workspaces = self.alerts.workspaces
        reachable = workspaces.installed()
        waiting = 0
        self.deferred = False
        queues: dict[str, list[tuple[datetime, Item]]] = {}
        with reading(self.alerts.sessions) as s:
            channels = {t: c for t, c in s.execute(select(WorkspaceSetting.team_id, WorkspaceSetting.alert_channel))}
            alerts = s.execute(
                select(
                    Alert.id,
                    Alert.channel,
                    Account.mapped_channel,
                    Account.slack_channel,
                    Alert.team_id,
                    Account.team,
                    Alert.created_at,
                )
                .outerjoin(Account, Account.id == Alert.account_id)
                .where(Alert.version > Alert.synced_version)
            )
            for alert_id, posted_in, mapped, from_provider, posted_team, account_team, created in alerts:
                workspace = workspaces.resolve(posted_team or account_team)
                if reachable is not None and workspace not in reachable:
                    waiting += 1
                    continue
                default = (channels.get(workspace) if workspace else None) or self.alerts.fallback_channel
                where = posted_in or mapped or from_provider or default or ""
                if ("alert", alert_id) in held:
                    continue
                queues.setdefault(where, []).append((created, ("alert", alert_id)))
            recent = now - DIGEST_UPDATE_EVERY
            messages = s.execute(
                select(
                    Message.id,
                    Message.kind,
                    func.coalesce(Message.channel, Alert.channel, ""),
                    func.coalesce(Message.team_id, Alert.team_id),
                    Message.created_at,
                    Message.ts,
                    Message.synced_at,
                )
                .outerjoin(Alert, Alert.id == Message.alert_id)
                .where(Message.version > Message.synced_version)
                # a reply waits for its alert's message (or its digest's)
                .where(
                    or_(
                        Message.kind != "reply",
                        Alert.ts.is_not(None),
                        Alert.digest_id.is_not(None),
                        Message.digest_id.is_not(None),
                    )
                )
            )
            for message_id, kind, where, team, created, ts, synced_at in messages:
                if reachable is not None and workspaces.resolve(team) not in reachable:
                    waiting += 1
                    continue
                if kind == "digest" and ts is not None and synced_at is not None and synced_at > recent:
                    self.deferred = True  # edited a moment ago: again in a little while
                    continue
                if ("message", message_id) in held:
                    continue
                queues.setdefault(where, []).append((created, ("message", message_id)))
        for queue in queues.values():
            queue.sort()
        if waiting:
            log.info("%d messages wait for their Slack workspace to install Settle", waiting)
        return queues

    def deliver_all(self, woken: Callable[[], bool] | None = None, *, backing_off: bool = True) -> DeliveryReport:
        """One round: deliver everything pending, channels concurrently (at most `concurrency` calls
        in flight), each channel's messages one after another at the pace Slack allows it.

        A channel is handed to one worker at a time and comes back into the queue at its next slot, so
        waiting for one channel's budget never holds a worker other channels could use. When `woken`
        says something new was recorded, the round looks again and takes it in. Exactly-once is
        unchanged: each alert and message is still claimed and recorded on its own."""
        with self._round:
            report = DeliveryReport()
            try:
                report = self._round_of(woken, backing_off)
            finally:
                self._delivered.merge(report)
            return report

    def take_delivered(self) -> DeliveryReport:
        """What every round delivered since the last take (the courier's rounds and a drain's alike)."""
        with self._round:
            taken, self._delivered = self._delivered, DeliveryReport()
            return taken

    def _round_of(self, woken: Callable[[], bool] | None, backing_off: bool) -> DeliveryReport:
        report = DeliveryReport()
        queues: dict[str, deque[Item]] = {}
        seen: set[Item] = set()
        ready: list[tuple[float, int, str]] = []  # (when the channel may be posted to, tiebreak, channel)
        order = itertools.count()
        scheduled: set[str] = set()

        def take_in() -> None:
            new_alerts: list[int] = []
            for channel, items in self.pending_by_channel(backing_off=backing_off).items():
                fresh = [item for _, item in items if item not in seen]
                if not fresh:
                    continue
                seen.update(fresh)
                new_alerts.extend(row_id for kind, row_id in fresh if kind == "alert")
                queues.setdefault(channel, deque()).extend(fresh)
                if channel not in scheduled:
                    scheduled.add(channel)
                    heapq.heappush(ready, (self.pacer.ready_at(channel), next(order), channel))
            # the new alerts read in one go: each delivery then claims, posts and records
            self.alerts.prepare(new_alerts)

        take_in()
        running: dict[Future[DeliveryReport], tuple[str, Item]] = {}
        fatal: SlackAuthError | None = None
        while (ready and fatal is None and not self.stopping) or running:
            if woken is not None and woken() and fatal is None and not self.stopping:
                take_in()
            now = self.pacer.clock()
            go_on = fatal is None and not self.stopping
            while ready and go_on and len(running) < self.concurrency and ready[0][0] - LEAD <= now:
                _, _, channel = heapq.heappop(ready)
                item = queues[channel].popleft()
                running[self.pool.submit(self._deliver, item)] = (channel, item)
            timeout = max(ready[0][0] - LEAD - now, 0.0) if ready and len(running) < self.concurrency else None
            if not running:
                self._stopping.wait(min(timeout or 0.0, 0.25))
                continue
            done, _ = wait(
                running, timeout=min(timeout, 0.25) if timeout is not None else 0.25, return_when=FIRST_COMPLETED
            )
            for future in done:
                channel, item = running.pop(future)
                try:
                    one = future.result()
                except SlackAuthError as exc:
                    fatal = exc
                else:
                    report.merge(one)
                    self._backoff(item, failed=bool(one.failed))
                if queues[channel]:
                    heapq.heappush(ready, (self.pacer.ready_at(channel), next(order), channel))
                else:
                    scheduled.discard(channel)
        self.alerts.forget_prepared()
        if fatal is not None:
            raise fatal
        return report

    def _backoff(self, item: Item, *, failed: bool) -> None:
        if not failed:
            self._failures.pop(item, None)
            return
        attempts = self._failures.get(item, (0, 0.0))[0] + 1
        wait_s = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MOST)
        self._failures[item] = (attempts, self.pacer.clock() + wait_s)

    def _deliver(self, item: Item) -> DeliveryReport:
        kind, row_id = item
        if kind == "alert":
            return self.alerts.deliver_one(row_id)
        return self.messages.deliver_one(row_id)
