"""One replica polls at a time: the lease row, the scheduled job that respects it, and /healthz
reporting whether some replica polled within two intervals."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import Settle, build
from bot.runtime.scheduler import poll_job
from bot.settings import Settings
from storage.leases import DbLease
from tests.conftest import account, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import eventually, running_server, serve_process
from tests.slack_requests import get


def test_one_holder_at_a_time_and_a_lapsed_lease_is_taken_over(env: dict[str, str]) -> None:
    settle = build(Settings())
    try:
        a = DbLease(settle.sessions, "poll", "replica-a", timedelta(seconds=60))
        b = DbLease(settle.sessions, "poll", "replica-b", timedelta(seconds=60))
        now = datetime.now(UTC)
        assert a.acquire(now) and not b.acquire(now)
        assert a.acquire(now + timedelta(seconds=30))  # the holder renews
        assert not b.acquire(now + timedelta(seconds=80))  # renewed until +90
        assert b.acquire(now + timedelta(seconds=91))  # a dead holder's lease lapses: taken over
        assert not a.acquire(now + timedelta(seconds=92))
        b.release()
        assert a.acquire(datetime.now(UTC))  # released on shutdown: at once
    finally:
        settle.close()


class Counting:
    def __init__(self, settle: Settle) -> None:
        self.cycles = 0
        self.inner = settle.poller

    def scheduled(self) -> object:
        self.cycles += 1
        return self.inner.run_cycle()


def test_the_scheduled_poll_runs_only_under_the_lease(env: dict[str, str]) -> None:
    first, second = build(Settings()), build(Settings())
    try:
        one, two = Counting(first), Counting(second)
        for _ in range(3):
            poll_job(one, first.poll_lease)  # type: ignore[arg-type]
            poll_job(two, second.poll_lease)  # type: ignore[arg-type]
        assert (one.cycles, two.cycles) == (3, 0)
        assert first.poll_lease.last_run() is not None
    finally:
        first.close()
        second.close()


def test_healthz_says_when_no_replica_polled_within_two_intervals(sqlite_env: dict[str, str]) -> None:
    with running_server(Settings(POLL_INTERVAL_SECONDS=60)) as (base, services):
        status, body = get(base + "/healthz")
        assert status == 200 and json.loads(body)["poller"] == "starting"
        services.poll_lease.acquire()
        services.poll_lease.ran(datetime.now(UTC) - timedelta(seconds=30))
        status, body = get(base + "/healthz")
        assert status == 200 and json.loads(body)["poller"] == "ok"
        services.poll_lease.ran(datetime.now(UTC) - timedelta(seconds=121))
        status, body = get(base + "/healthz")
        assert status == 503 and json.loads(body) | {"last_poll": None} == {
            "ok": False,
            "database": "up",
            "poller": "late",
            "last_poll": None,
        }


def decline(path: Path, acc: dict[str, object]) -> None:
    """A renewal declined at the sandbox (as another process would record it), for the poll to find."""
    from tests.conftest import load_accounts

    services = build(Settings())
    try:
        load_accounts(services, write_accounts(path, [acc]))
        services.provider.bill()  # type: ignore[attr-defined]
    finally:
        services.close()


def test_two_serve_processes_poll_one_at_a_time_and_one_takes_over_when_the_other_dies(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    settings = {**env, "POLL_INTERVAL_SECONDS": "2"}
    with serve_process(settings, tmp_path / "a.log") as (base_a, proc_a):
        eventually(lambda: json.loads(get(base_a + "/healthz")[1]).get("poller") == "ok", timeout=15)
        with serve_process(settings, tmp_path / "b.log") as (base_b, _proc_b):
            decline(tmp_path / "a.yml", account("acme", "4000000000009995", channel="C0ACME"))
            eventually(lambda: len(fake_slack.messages("C0ACME")) == 1, timeout=15, message="no alert")
            os.kill(proc_a.pid, signal.SIGKILL)  # the holder dies mid-schedule
            proc_a.wait(timeout=10)
            decline(tmp_path / "b.yml", account("globex", "4000000000000002", channel="C0GLOBEX"))
            started = time.monotonic()
            eventually(lambda: len(fake_slack.messages("C0GLOBEX")) == 1, timeout=20, message="nobody took over")
            assert time.monotonic() - started < 10
            eventually(lambda: json.loads(get(base_b + "/healthz")[1])["poller"] == "ok", timeout=10)
    top_level = [m for m in fake_slack.messages("C0ACME") if not m.get("thread_ts")]
    assert len(top_level) == 1  # one alert: nothing doubled (its thread says it was declined again)
    log_b = (tmp_path / "b.log").read_text()
    assert "Traceback" not in log_b
