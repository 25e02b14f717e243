"""The in-process poll schedule. Every replica runs one; a lease in the database lets one of them
poll at a time (APScheduler's job stores are not for sharing between processes)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from storage.leases import DbLease

log = logging.getLogger(__name__)


class Summary(Protocol):
    def summary(self) -> str: ...


class Cycle(Protocol):
    """The poll job (bot/jobs/poll.py): what the schedule runs."""

    def run_cycle(self) -> Summary: ...


def poll_job(poller: Cycle, lease: DbLease | None = None) -> None:
    try:
        if lease is not None and not lease.acquire():
            log.debug("poll: another replica holds the poll lease")
            return
        report = poller.run_cycle()
        if lease is not None:
            lease.ran()
        log.info("poll: %s", report.summary())
    except Exception:
        # keep the schedule alive; the next cycle retries from the stored cursor
        log.exception("poll cycle failed")


def _missed(event: JobExecutionEvent) -> None:
    log.warning(
        "poll run due at %s was missed (the previous one ran long, or the process was busy)", event.scheduled_run_time
    )


def make_scheduler(
    poller: Cycle, interval_seconds: int, *, blocking: bool = False, lease: DbLease | None = None
) -> BaseScheduler:
    scheduler: BaseScheduler = BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        poll_job,
        "interval",
        args=[poller, lease],
        seconds=interval_seconds,
        id="poll",
        max_instances=1,
        coalesce=True,
        # a tick that starts late (a long cycle, a busy machine) still runs, up to one interval late
        misfire_grace_time=interval_seconds,
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_listener(_missed, EVENT_JOB_MISSED)
    return scheduler
