"""The in-process poll schedule. Every replica runs one; a lease in the database lets one of them
poll at a time (APScheduler's job stores are not for sharing between processes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from storage.leases import DbLease

log = logging.getLogger(__name__)

MORNING_EVERY = 600  # seconds between looks for admins whose 09:00 has come


class Summary(Protocol):
    def summary(self) -> str: ...


class Cycle(Protocol):
    """The poll job (bot/jobs/poll.py): what the schedule runs."""

    def scheduled(self) -> Summary: ...


def poll_job(poller: Cycle, lease: DbLease | None = None) -> None:
    try:
        if lease is not None and not lease.acquire():
            log.debug("poll: another replica holds the poll lease")
            return
        report = poller.scheduled()
        if lease is not None:
            lease.ran()
        log.info("poll: %s", report.summary())
    except Exception:
        # keep the schedule alive; the next cycle retries from the stored cursor
        log.exception("poll cycle failed")


def _missed(event: JobExecutionEvent) -> None:
    log.info(
        "poll run due at %s was missed (the process was busy); the next one reads it all", event.scheduled_run_time
    )


def _still_running(event: JobEvent) -> None:
    # a renewal day's long read: the next tick is skipped, nothing is lost (the cursor resumes)
    log.info("poll: the previous cycle is still reading the feed; this tick is skipped")


class _SkippedTicks(logging.Filter):
    """APScheduler warns of every tick skipped behind a long cycle; that is expected, and said once as
    `_still_running` at INFO instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def morning_job(run: Callable[[], int]) -> None:
    try:
        sent = run()
        if sent:
            log.info("morning lists: %d sent", sent)
    except Exception:
        log.exception("morning lists failed; tried again on the next run")


def make_scheduler(
    poller: Cycle,
    interval_seconds: int,
    *,
    blocking: bool = False,
    lease: DbLease | None = None,
    morning: Callable[[], int] | None = None,
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
    if morning is not None:  # every replica: each list is claimed once per person per day
        scheduler.add_job(
            morning_job,
            "interval",
            args=[morning],
            seconds=MORNING_EVERY,
            id="morning",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MORNING_EVERY,
        )
    scheduler.add_listener(_missed, EVENT_JOB_MISSED)
    scheduler.add_listener(_still_running, EVENT_JOB_MAX_INSTANCES)
    apscheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedTicks) for f in apscheduler_log.filters):
        apscheduler_log.addFilter(_SkippedTicks())
    return scheduler
