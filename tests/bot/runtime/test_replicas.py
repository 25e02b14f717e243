"""Replicas on one PostgreSQL database, as in production: real `settle serve` processes killed with
SIGKILL mid-poll (Slack has the alert, the replica never recorded it) and mid-charge (Stripe has
charged, the replica never heard back). Nothing is lost and nothing is doubled."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build
from bot.domain.states import AlertState, SettlementStatus
from bot.settings import Settings
from storage.db import reading
from storage.models import Alert, AuditEvent, Settlement
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe, Request
from tests.handlers.test_stripe_flow import ADMIN, Acme
from tests.harness import Harness, eventually, serve_process


def killer(proc: Any, done: threading.Event) -> None:
    if not done.is_set():
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done.set()


# replicas share PostgreSQL in production (SQLite has its own two-process test in test_lease.py)
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_replicas_killed_mid_poll_and_mid_charge_lose_nothing_and_double_nothing(
    stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe, tmp_path: Path
) -> None:
    settings = {**stripe_env, "POLL_INTERVAL_SECONDS": "1", "SETTLE_CHARGE_UNKNOWN_AFTER_SECONDS": "1"}
    acme = Acme(fake_stripe)
    a_killed, b_killed = threading.Event(), threading.Event()

    with serve_process(settings, tmp_path / "a.log") as (_base_a, proc_a):
        # mid-poll: the first replica dies the moment Slack has its alert, before recording it
        fake_slack.on_post = lambda _msg: killer(proc_a, a_killed)
        with serve_process(settings, tmp_path / "b.log") as (base_b, proc_b):
            fake_stripe.renew(acme.invoice)
            eventually(a_killed.is_set, timeout=20, message="no replica polled")
            fake_slack.on_post = None
            services = build(Settings())  # this test's own view of the shared database
            try:
                recorded = eventually(lambda: alert_row(services), timeout=20, message="nobody took over the poll")
                assert len(top_level_alerts(fake_slack)) == 1
                assert recorded.ts == top_level_alerts(fake_slack)[0]["ts"]

                with serve_process(settings, tmp_path / "c.log") as (_base_c, _proc_c):
                    # mid-charge: the replica charging dies after Stripe acted, before its answer arrives
                    def on_acted(request: Request) -> None:
                        if request.method == "POST" and request.path == f"/v1/invoices/{acme.invoice}/pay":
                            killer(proc_b, b_killed)

                    fake_stripe.on_acted = on_acted
                    h = Harness(base_b, fake_slack, services)
                    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
                    h.choose(view_id, ADMIN, acme.visa)
                    h.confirm(view_id, ADMIN)
                    eventually(b_killed.is_set, timeout=15, message="the charge never reached Stripe")
                    fake_stripe.on_acted = None
                    paid = eventually(
                        lambda: (
                            (row := alert_row(services)) is not None
                            and row.state == AlertState.PAID
                            and row.paid_by == ADMIN  # the admin's settlement, not "paid outside Settle"
                            and row
                        ),
                        timeout=20,
                        message="the surviving replica never recorded the charge's outcome",
                    )
                    eventually(lambda: "Settled by" in top_level_alerts(fake_slack)[0]["text"], timeout=10)
                with reading(services.sessions) as s:
                    settlements = list(s.scalars(select(Settlement)))
                    actions = Counter(e.action for e in s.scalars(select(AuditEvent)))
            finally:
                services.close()
            assert proc_b.returncode == -signal.SIGKILL

    assert paid.paid_with
    assert [st.status for st in settlements] == [SettlementStatus.SUCCEEDED]
    pays = [r for r in fake_stripe.requests if r.method == "POST" and r.path.endswith(f"{acme.invoice}/pay")]
    assert len({r.idempotency_key for r in pays}) == 1  # asked again only with the same key
    charged = [i for i in fake_stripe.intents.values() if i.get("status") == "succeeded"]
    assert len(charged) == 1 and fake_stripe.invoices[acme.invoice]["status"] == "paid"
    assert len(top_level_alerts(fake_slack)) == 1
    assert actions["alert_posted"] + actions["alert_recovered"] == 1
    for log in ("b.log", "c.log"):
        assert "Traceback" not in (tmp_path / log).read_text()


def alert_row(services: Any) -> Alert | None:
    with reading(services.sessions) as s:
        row = s.scalar(select(Alert).where(Alert.ts.is_not(None)))
        return row


def top_level_alerts(fake: FakeSlack) -> list[dict[str, Any]]:
    return [
        m
        for m in fake.messages("C0ACME")
        if not m.get("thread_ts") and (m.get("metadata") or {}).get("event_type") == "settle_alert"
    ]
