"""Clicks first: filling a modal waits while other clicks are on their way to views.open.

A trigger_id expires 3 s after the click, and in a burst of clicks the CPU (and the GIL) is better
spent opening every modal than filling the first ones; the forms fill a few milliseconds later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class OpenGate:
    def __init__(self, quiet_seconds: float = 0.015, max_wait_seconds: float = 1.0) -> None:
        self.quiet = quiet_seconds
        self.max_wait = max_wait_seconds
        self._opening = 0
        self._last = 0.0
        self._cond = threading.Condition()

    @contextmanager
    def opening(self) -> Iterator[None]:
        with self._cond:
            self._opening += 1
            self._last = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._opening -= 1
                self._last = time.monotonic()
                self._cond.notify_all()

    def wait_quiet(self) -> None:
        """Block until no click has been opening a modal for `quiet` seconds; never past max_wait."""
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                if self._opening == 0 and now - self._last >= self.quiet:
                    return
                self._cond.wait(
                    timeout=min(deadline, self._last + self.quiet) - now if self._opening == 0 else deadline - now
                )
