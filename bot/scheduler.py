"""The in-process poll schedule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.services import Services

log = logging.getLogger(__name__)


def poll_job(services: Services) -> None:
    try:
        report = services.poller().run_cycle()
        log.info("poll: %s", report.summary())
    except Exception:
        # keep the schedule alive; the next cycle retries from the stored cursor
        log.exception("poll cycle failed")


def make_scheduler(services: Services, *, blocking: bool = False) -> BaseScheduler:
    scheduler: BaseScheduler = BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        poll_job,
        "interval",
        args=[services],
        seconds=services.settings.poll_interval_seconds,
        id="poll",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    return scheduler
