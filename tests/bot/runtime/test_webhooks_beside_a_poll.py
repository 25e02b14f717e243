"""Two paths and two processes, one alert per balance: a burst of Stripe webhooks into a running
`settle serve` while a `settle poll --once` reads the same declines from the feed beside it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.bot.delivery.test_crash_safety import assert_recorded_exactly_once, posted_invoices
from tests.conftest import STRIPE_WEBHOOK_SECRET, spawn_cli
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.harness import eventually, serve_process
from tests.slack_requests import post

RENEWALS = 40


def signed(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    body = json.dumps(event)
    t = int(time.time())
    sig = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={sig}"}


def test_a_webhook_burst_beside_a_cli_poll_posts_one_alert_per_balance(
    stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe, tmp_path: Path
) -> None:
    customers = []
    for i in range(RENEWALS):  # four channels of ten: below the digest threshold, one alert each
        cus = fake_stripe.add_customer(f"Renewal {i}", channel=f"C0RD{i % 4}", admins="U0ADMIN")
        fake_stripe.add_card(cus, "4000000000009995", default=True)
        customers.append((cus, fake_stripe.add_invoice(cus, 12900 + i)))
    fake_slack.delay["chat.postMessage"] = 0.2  # both processes post while the other is mid-post
    fake_stripe.latency = 0.05
    env = {**stripe_env, "POLL_INTERVAL_SECONDS": "3600", "SETTLE_DIGEST_AFTER": "0"}
    with serve_process(env, tmp_path / "serve.log") as (base, _proc):
        eventually(lambda: fake_stripe.calls("GET /v1/events"), message="the server's first poll never ran")
        time.sleep(0.3)
        before = len(fake_stripe.events)
        for _, invoice in customers:  # renewal day: every renewal declined at once
            fake_stripe.renew(invoice)
        events = [e for e in fake_stripe.events[before:] if e["type"] == "invoice.payment_failed"]
        assert len(events) == RENEWALS

        polls = len(fake_stripe.calls("GET /v1/events"))
        poll = spawn_cli(env, "poll", "--once")
        # the webhooks arrive as the CLI reads the feed: both record, both deliver, side by side
        eventually(lambda: len(fake_stripe.calls("GET /v1/events")) > polls, timeout=30, message="the CLI never polled")
        with ThreadPoolExecutor(max_workers=8) as senders:
            answers = list(senders.map(lambda e: post(base + "/stripe/webhook", *signed(e))[0], events))
        assert answers == [200] * RENEWALS
        _, err = poll.communicate(timeout=120)
        assert poll.returncode == 0 and "Traceback" not in err, err
        ids = [cus for cus, _ in customers]
        eventually(lambda: sum(posted_invoices(fake_slack).values()) >= RENEWALS, timeout=60, message="alerts")
        time.sleep(1.0)  # anything still in flight in either process lands (a double would show now)

    assert posted_invoices(fake_slack) == Counter(ids), "a balance was alerted twice, or not at all"
    assert_recorded_exactly_once(env, fake_slack, ids)  # and the database says what Slack shows
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log
