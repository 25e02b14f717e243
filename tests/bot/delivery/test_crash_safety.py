"""Exactly-once alerts across kill -9 and concurrent pollers, with real `settle poll --once` processes."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bot.app import open_database
from storage.db import transaction
from storage.models import Alert, AuditEvent, Decline
from tests.conftest import account, run_cli, spawn_cli, write_accounts
from tests.fake_slack import FakeSlack

DECLINES = ["4000000000000002", "4000000000009995", "4000000000000069", "4000002500003155", "4000002760003184"]


def seed(env: dict[str, str], tmp_path: Path, n: int, invoices: int = 1) -> list[str]:
    """n accounts, each with declined renewals: n balances to alert, one alert each."""
    accounts = [account(f"acct{i:02d}", DECLINES[i % len(DECLINES)], channel=f"C{i % 3}") for i in range(n)]
    for acc in accounts:
        acc["invoices"] = [{"amount": f"{10 * (k + 1)}.00", "description": f"renewal {k + 1}"} for k in range(invoices)]
    run_cli(env, "sandbox", "load", str(write_accounts(tmp_path / "accounts.yml", accounts)))
    run_cli(env, "sandbox", "bill")
    return [f"acct{i:02d}" for i in range(n)]


def posted_invoices(fake: FakeSlack) -> Counter[str]:
    """Alerts posted per account (the message metadata names each alert's account)."""
    return Counter(
        m["metadata"]["event_payload"]["account_id"]
        for m in fake.messages()
        if (m.get("metadata") or {}).get("event_type") == "settle_alert"
    )


def assert_recorded_exactly_once(env: dict[str, str], fake: FakeSlack, accounts: list[str]) -> None:
    counts = posted_invoices(fake)
    assert counts == Counter(accounts), f"alerts posted per account: {counts}"
    by_account = {
        m["metadata"]["event_payload"]["account_id"]: m["ts"]
        for m in fake.messages()
        if (m.get("metadata") or {}).get("event_type") == "settle_alert"
    }
    engine, sessions = open_database(env["DATABASE_URL"], migrate=False)
    with transaction(sessions) as s:
        alerts = s.scalars(select(Alert)).all()
        assert sorted(a.account_id for a in alerts) == sorted(accounts)
        for a in alerts:
            assert a.ts == by_account[a.account_id], f"{a.account_id}: database and Slack disagree"
            assert a.synced_version == a.version
            assert len(a.invoices) == len(
                {d.invoice_id for d in s.scalars(select(Decline)) if d.account_id == a.account_id}
            )
    engine.dispose()


def test_killed_between_slack_accepting_and_the_database_recording(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    invoices = seed(env, tmp_path, 5)
    proc: subprocess.Popen[str] | None = None
    posts = 0

    def kill_on_third(_msg: dict) -> None:
        nonlocal posts
        posts += 1
        if posts == 3 and proc is not None:
            os.kill(proc.pid, signal.SIGKILL)  # Slack has the message; the poller never hears back
            proc.wait()

    fake_slack.on_post = kill_on_third
    proc = spawn_cli(env, "poll", "--once")
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # channels are delivered concurrently: a post to another channel may land beside the third
    posted = sum(posted_invoices(fake_slack).values())
    assert 3 <= posted <= 5

    fake_slack.on_post = None
    out = run_cli(env, "poll", "--once").stdout
    # the third post was never heard back; others in flight beside it may be unrecorded too
    recovered = int(re.search(r"(\d+) recovered after a crash", out).group(1))  # type: ignore[union-attr]
    assert 1 <= recovered <= posted
    assert_recorded_exactly_once(env, fake_slack, invoices)
    assert len(fake_slack.calls_to("conversations.history")) >= 1

    engine, sessions = open_database(env["DATABASE_URL"], migrate=False)
    with transaction(sessions) as s:
        actions = Counter(e.action for e in s.scalars(select(AuditEvent)))
    engine.dispose()
    assert actions["alert_recovered"] == recovered and actions["alert_posted"] == 5 - recovered


def test_killed_at_random_instants_loses_and_doubles_nothing(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    invoices = seed(env, tmp_path, 8, invoices=2)  # balances of two declined invoices each
    fake_slack.delay["chat.postMessage"] = 0.05  # widen every window a little
    rng = random.Random(20261125)
    kills = 0
    for _ in range(6):
        proc = spawn_cli(env, "poll", "--once")
        time.sleep(rng.uniform(0.2, 1.6))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        counts = posted_invoices(fake_slack)
        assert all(n == 1 for n in counts.values()), f"doubled after a kill: {counts}"
    run_cli(env, "poll", "--once")
    assert kills >= 1
    assert_recorded_exactly_once(env, fake_slack, invoices)


def test_two_pollers_at_once_post_each_alert_once(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    invoices = seed(env, tmp_path, 10, invoices=3)  # two pollers race to open each account's one alert
    fake_slack.delay["chat.postMessage"] = 0.05
    procs = [spawn_cli(env, "poll", "--once") for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
    assert_recorded_exactly_once(env, fake_slack, invoices)
