"""Background work, bounded: the composition root (bot/app.py) creates every pool; nothing else starts
a thread. A pool refuses work when its queue is full (the caller answers "try again": a webhook gets
503, Stripe sends it again), logs every task that fails, and is joined at shutdown."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class PoolFull(RuntimeError):
    """The pool's workers are busy and its queue is full."""


class BoundedPool(Executor):
    """`workers` threads and at most `queue` tasks waiting. Tasks run in the context they were
    submitted from (the reader's language goes with them)."""

    def __init__(self, name: str, workers: int, queue: int) -> None:
        self.name = name
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(workers + queue)

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        if not self._slots.acquire(blocking=False):
            raise PoolFull(f"{self.name}: {self.workers} busy and the queue is full")
        context = copy_context()

        def run() -> R:
            try:
                return context.run(fn, *args, **kwargs)
            except Exception:
                log.exception("%s: %s failed", self.name, getattr(fn, "__qualname__", fn))
                raise
            finally:
                self._slots.release()

        try:
            return self._pool.submit(run)
        except BaseException:
            self._slots.release()
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class Timers:
    """Work to do a little later (a modal to update once Slack has shown it): one thread, a heap of
    due times, and each task run on `pool` when due. Never a polling loop: it sleeps until the next."""

    def __init__(self, pool: Executor, name: str = "settle-timers") -> None:
        self.pool = pool
        self._heap: list[tuple[float, int, Callable[[], Any]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def later(self, delay: float, task: Callable[[], Any]) -> None:
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._order), task))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else None)
                if self._stopped:
                    return
                _, _, task = heapq.heappop(self._heap)
            try:
                self.pool.submit(task)
            except (PoolFull, RuntimeError):
                log.warning("a delayed task was dropped: its pool is full or shut down")

    def shutdown(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        self._thread.join(timeout=5)
