"""Every pending alert brought up to date in Slack: channels side by side, each channel at the pace
Slack allows it (about one message a second), on the one delivery pool the composition root made."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait

from sqlalchemy import select

from bot.delivery.outbox import AlertDeliverer, DeliveryReport
from bot.domain.chat import SlackAuthError
from bot.slack.pacing import ChannelPacer
from storage.db import reading
from storage.models import Account, Alert, WorkspaceSetting

log = logging.getLogger(__name__)

DELIVERY_CONCURRENCY = 16  # Slack calls in flight at once when delivering many alerts


class FanOut:
    def __init__(
        self, deliverer: AlertDeliverer, pool: Executor, pacer: ChannelPacer, concurrency: int = DELIVERY_CONCURRENCY
    ) -> None:
        self.deliverer = deliverer
        self.pool = pool
        self.pacer = pacer  # the gateway's: the dispatcher and the posts share one budget per channel
        self.concurrency = max(1, concurrency)
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Shutting down: deliveries under way finish and are recorded; no new one starts (what is
        left is posted by the next poll, by this replica or another)."""
        self._stopping.set()

    def pending_by_channel(self) -> dict[str, deque[int]]:
        """Alerts whose Slack message is behind, grouped by the channel they are (or will be) in.

        With many workspaces, alerts of a workspace that has no bot token now (it removed Settle)
        are left for when it installs Settle again: no Slack call is spent on them."""
        workspaces = self.deliverer.workspaces
        reachable = workspaces.installed()
        waiting = 0
        with reading(self.deliverer.sessions) as s:
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
                workspace = workspaces.resolve(posted_team or account_team)
                if reachable is not None and workspace not in reachable:
                    waiting += 1
                    continue
                default = (channels.get(workspace) if workspace else None) or self.deliverer.fallback_channel
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
        queues = self.pending_by_channel()
        if not queues:
            return report
        ready: list[tuple[float, int, str]] = []  # (when the channel may be posted to, tiebreak, channel)
        order = itertools.count()
        for channel in queues:
            heapq.heappush(ready, (self.pacer.ready_at(channel), next(order), channel))
        running: dict[Future[DeliveryReport], str] = {}
        fatal: SlackAuthError | None = None
        while (ready and fatal is None and not self._stopping.is_set()) or running:
            now = self.pacer.clock()
            go_on = fatal is None and not self._stopping.is_set()
            while ready and go_on and len(running) < self.concurrency and ready[0][0] <= now:
                _, _, channel = heapq.heappop(ready)
                running[self.pool.submit(self.deliverer.deliver_one, queues[channel].popleft())] = channel
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
