"""Per-channel pacing for chat.postMessage: Slack allows about one message per second per channel.

Each channel has its own budget: the next time a message may go there. A 429 moves only that
channel's next slot on (by its Retry-After), so one busy channel never slows another. The pacer is
per process; across replicas only the poll lease holder delivers in bulk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Slack's published limit for chat.postMessage: "1 message per second per channel, short bursts
# allowed". The interval is counted from Slack's answer to the previous post (see `sent`), which
# is after Slack received it, so however late a request leaves here, two never arrive too close.
SLACK_CHANNEL_INTERVAL = 1.0


class ChannelPacer:
    def __init__(
        self,
        interval: float = SLACK_CHANNEL_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready_at(self, channel: str) -> float:
        """When the channel's next message may go (on this pacer's clock)."""
        with self._lock:
            return self._next.get(channel, 0.0)

    def reserve(self, channel: str) -> float:
        """Take the channel's next slot; returns how long to wait for it."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next.get(channel, 0.0))
            self._next[channel] = at + self.interval
            return at - now

    def wait(self, channel: str) -> None:
        delay = self.reserve(channel)
        if delay > 0:
            self._sleep(delay)

    def sent(self, channel: str) -> None:
        """Slack answered a post to the channel: the next may go one interval after this moment."""
        with self._lock:
            self._next[channel] = max(self._next.get(channel, 0.0), self._clock() + self.interval)

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said 429 for this channel: nothing goes there for `seconds`."""
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._next[channel] = max(self._next.get(channel, 0.0), until)

    def clock(self) -> float:
        return self._clock()
