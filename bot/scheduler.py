"""The in-process poll schedule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.poller import Poller

log = logging.getLogger(__name__)


def poll_job(poller: Poller) -> None:
    try:
        report = poller.run_cycle()
        log.info("poll: %s", report.summary())
    except Exception:
        # keep the schedule alive; the next cycle retries from the stored cursor
        log.exception("poll cycle failed")


def make_scheduler(poller: Poller, interval_seconds: int, *, blocking: bool = False) -> BaseScheduler:
    scheduler: BaseScheduler = BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        poll_job,
        "interval",
        args=[poller],
        seconds=interval_seconds,
        id="poll",
        max_instances=1,
        coalesce=True,
        # a tick that starts late (a long cycle, a busy machine) still runs, up to one interval late
        misfire_grace_time=interval_seconds,
        next_run_time=datetime.now(UTC),
    )
    return scheduler
