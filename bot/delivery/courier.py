"""The one worker that posts, one per process: woken whenever something was recorded (a page of the
provider's feed, a webhook, a follow-up, a settlement), it delivers what is pending in rounds. Webhooks
and polls only record and wake it; nothing else posts in bulk. A caller that must see its messages
in Slack before it goes on (`settle poll --once`, a test) drains it."""

from __future__ import annotations

import logging
import threading
import time

from bot.delivery.fanout import DIGEST_UPDATE_EVERY, FanOut
from bot.delivery.outbox import DeliveryReport
from bot.domain.chat import SlackAuthError, SlackError
from bot.runtime.pools import Timers

log = logging.getLogger(__name__)

IDLE_LOOK = 30.0  # seconds between looks when nothing woke it (another replica's work, a missed wake)
RESCAN_EVERY = 0.5  # a round looks for newly recorded work at most this often


class Courier:
    def __init__(self, fanout: FanOut, timers: Timers) -> None:
        self.fanout = fanout
        self.timers = timers
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._last_look = 0.0

    def wake(self) -> None:
        self._wake.set()

    def deliver(self, alert_id: int) -> bool:
        """The domain's Outbox: this alert now (a settlement, a snooze), then whatever it brought along
        (its thread replies) on the next round."""
        try:
            return self.fanout.alerts.deliver(alert_id)
        finally:
            self.wake()

    def run(self) -> None:
        """The loop, on the courier's own pool thread (started by the composition root)."""
        while not self._stopped.is_set():
            self._wake.wait(IDLE_LOOK)
            if self._stopped.is_set():
                return
            self._wake.clear()
            try:
                report = self.fanout.deliver_all(self._woken)
            except SlackAuthError as exc:
                log.error("Slack refused the bot token (%s): nothing is posted until it is fixed", exc.code)
                self._stopped.wait(IDLE_LOOK)
                continue
            except SlackError as exc:
                log.warning("delivery round stopped: %s; tried again shortly", exc.code)
                self.timers.later(5.0, self.wake)
                continue
            except Exception:
                log.exception("delivery round failed; tried again shortly")
                self.timers.later(5.0, self.wake)
                continue
            if report.posted or report.messages or report.failed:
                log.info(
                    "delivered: %d posted, %d updated, %d in digests, %d other messages%s",
                    report.posted,
                    report.updated,
                    report.digested,
                    report.messages,
                    f", {len(report.failed)} failed" if report.failed else "",
                )
            if self.fanout.deferred:
                self.timers.later(DIGEST_UPDATE_EVERY.total_seconds(), self.wake)
            retry = self.fanout.next_retry()
            if retry is not None:  # a failed delivery's back-off ends then
                self.timers.later(max(retry - self.fanout.pacer.clock(), 0.05), self.wake)

    def _woken(self) -> bool:
        """Something new was recorded since the round began (looked at no more than twice a second)."""
        now = time.monotonic()
        if now - self._last_look < RESCAN_EVERY or not self._wake.is_set():
            return False
        self._last_look = now
        self._wake.clear()
        return True

    def drain(self) -> DeliveryReport:
        """Deliver everything deliverable now, in the caller's thread, after any round under way; the
        report is everything delivered since the last drain, by this thread's rounds or the courier's."""
        for i in range(20):  # a round can leave work: replies whose alert it just posted, a digest to edit
            found = self.fanout.deliver_all(backing_off=i > 0)  # what failed is tried once more, not 20 times
            if not (found.posted or found.updated or found.messages or found.recovered or found.digested):
                if not self.fanout.deferred:
                    break
                time.sleep(DIGEST_UPDATE_EVERY.total_seconds())
        return self.fanout.take_delivered()

    def stop(self) -> None:
        self.fanout.stop()
        self._stopped.set()
        self._wake.set()
