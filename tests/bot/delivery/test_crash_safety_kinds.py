"""Every kind of message Settle posts survives a kill -9 between Slack's answer and the database:
a real `settle poll --once` is killed the moment Slack has taken the message (the fake Slack kills
it before it answers), and the next poll finds the message in Slack and records it, never posting
it again. One test per kind: alert (test_crash_safety.py), thread reply, escalation, card warning,
digest, monthly report."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import open_database
from storage.db import reading, transaction
from storage.models import Alert, AlertInvoice, AuditEvent, Message
from tests.conftest import account, run_cli, spawn_cli, write_accounts
from tests.fake_slack import FakeSlack

KINDS = ["reply", "escalation", "card_warning", "digest", "report"]


def database(env: dict[str, str]) -> Any:
    return open_database(env["DATABASE_URL"], migrate=False)


def kind_of(env: dict[str, str], message_id: int) -> str | None:
    engine, sessions = database(env)
    try:
        with reading(sessions) as s:
            return s.scalar(select(Message.kind).where(Message.id == message_id))
    finally:
        engine.dispose()


def load(env: dict[str, str], tmp_path: Path, accounts: list[dict[str, Any]]) -> None:
    run_cli(env, "sandbox", "load", str(write_accounts(tmp_path / "accounts.yml", accounts)))
    run_cli(env, "sandbox", "bill")


def declined(env: dict[str, str], tmp_path: Path) -> None:
    """One declined balance, its alert posted."""
    load(env, tmp_path, [account("acme", "4000000000000002", channel="C0ACME", admins=["U0ADMIN"])])
    run_cli(env, "poll", "--once")


def due(env: dict[str, str], **values: Any) -> None:
    engine, sessions = database(env)
    with transaction(sessions) as s:
        s.execute(update(Alert).values(**values))
    engine.dispose()


def prepare(kind: str, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Make one message of `kind` due at the next poll; returns the env that poll runs with."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    if kind == "reply":  # a reminder in the alert's thread
        declined(env, tmp_path)
        due(env, remind_at=past)
    elif kind == "escalation":  # to the alert channel, three days on
        declined(env, tmp_path)
        due(env, escalate_at=past)
    elif kind == "card_warning":  # a renewal coming up on a card that expires first
        acc = account("acme", "4242424242424242", channel="C0ACME", admins=["U0ADMIN"])
        acc["invoices"] = []
        acc["payment_methods"][0]["exp"] = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%m/%y")
        acc["renewal"] = {"on": (datetime.now(UTC) + timedelta(days=5)).date().isoformat(), "amount": "129.00"}
        load(env, tmp_path, [acc])
    elif kind == "digest":  # the third decline in a channel within the window
        env = {**env, "SETTLE_DIGEST_AFTER": "2"}
        load(env, tmp_path, [account(f"acct{i}", "4000000000000002", channel="C0STORM") for i in range(5)])
    elif kind == "report":  # last month's, early in this one
        declined(env, tmp_path)
        engine, sessions = database(env)
        with transaction(sessions) as s:
            s.execute(update(AlertInvoice).values(created_at=datetime.now(UTC) - timedelta(days=40)))
        engine.dispose()
    return env


def killer(proc: Callable[[], subprocess.Popen[str] | None]) -> Callable[[], None]:
    def kill() -> None:
        p = proc()
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)  # Slack has it; the poller never hears back
            p.wait()

    return kill


def posted(fake: FakeSlack, env: dict[str, str], kind: str) -> list[str]:
    """What Slack holds of this kind: the ts of each message (a report: each file)."""
    if kind == "report":
        return [f["id"] for f in fake.files]
    found = []
    for m in fake.messages():
        meta = m.get("metadata") or {}
        if meta.get("event_type") == "settle_message" and kind_of(env, meta["event_payload"]["message_id"]) == kind:
            found.append(m["ts"])
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_after_slack_took_it_neither_loses_nor_doubles_it(
    kind: str, env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = prepare(kind, env, tmp_path)
    proc: subprocess.Popen[str] | None = None
    kill = killer(lambda: proc)
    killed: list[str] = []

    def on_post(msg: dict[str, Any]) -> None:
        meta = msg.get("metadata") or {}
        ours = meta.get("event_type") == "settle_message"
        if not killed and ours and kind_of(env, meta["event_payload"]["message_id"]) == kind:
            killed.append(msg["ts"])
            kill()

    def on_upload(shared: dict[str, Any]) -> None:
        if not killed and kind == "report":
            killed.append(shared["id"])
            kill()

    fake_slack.on_post, fake_slack.on_upload = on_post, on_upload
    proc = spawn_cli(env, "poll", "--once")
    proc.wait(timeout=60)
    assert killed and proc.returncode == -signal.SIGKILL, f"no {kind} was posted: {proc.communicate()}"
    assert len(posted(fake_slack, env, kind)) == 1

    fake_slack.on_post = fake_slack.on_upload = None
    out = run_cli(env, "poll", "--once").stdout
    run_cli(env, "poll", "--once")  # and once more: nothing is left to post
    assert "Traceback" not in out
    assert len(posted(fake_slack, env, kind)) == 1, f"the {kind} was posted again"

    engine, sessions = database(env)
    with reading(sessions) as s:
        rows = list(s.scalars(select(Message).where(Message.kind == kind)))
        recovered = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "message_recovered"))]
    engine.dispose()
    assert len(rows) == 1 and rows[0].synced_version == rows[0].version
    shown = rows[0].ts
    if kind == "report":
        assert shown is not None and shown.startswith("file:Settle ")
    else:
        assert shown == killed[0], "the database and Slack disagree"
    # others in flight beside it (an escalation's thread reply) may have been recovered too
    assert [d.get("kind") for d in recovered].count(kind) == 1
