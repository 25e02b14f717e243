"""Renewal day on Stripe: many renewals declined at once, from the provider to Slack.

    python bench/renewal_day.py [--declines 1000 --channels 100] [--path poll|webhooks] [--digests]
                                [--stripe-latency-ms 100 --stripe-limit 100] [--postgres [URL]]

The Stripe stand-in (tests/fake_stripe.py) and the fake Slack (tests/fake_slack.py) each run in a
process of their own: Stripe answers in `--stripe-latency-ms` and refuses (429) more than
`--stripe-limit` requests a second; Slack takes one message per second per channel. Settle runs in
this process as `settle serve` does: the scheduler's poll every 2 s (`--path poll`), or every event
handed to the webhook path (`--path webhooks`: what /stripe/webhook does once a signature checks),
with the courier delivering in the background.

Figures: time to the first alert in Slack, time to the last, against Slack's floor (the per-channel
count less one, in seconds); Stripe requests per decline; 429s; alerts lost or posted twice.
Targets (issue 18): the last alert within 1.5x the floor, the first within 5 s, none lost or doubled.
With --digests (try --channels 5): messages per channel, and the time until every balance is shown
(its own alert, or its channel's digest up to date).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.pg import DEFAULT_PG, fresh_schema  # noqa: E402
from bot.app import build  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import reading  # noqa: E402
from storage.models import Alert, Message  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.fake_stripe import API_KEY, FakeStripe  # noqa: E402


def serve_slack(conn: Connection) -> None:
    fake = FakeSlack().start()
    fake.channel_interval = 1.0
    fake.delay["chat.postMessage"] = 0.05
    conn.send(fake.url)
    conn.recv()
    posted = Counter(
        m["metadata"]["event_payload"]["alert_id"]
        for m in fake.messages()
        if (m.get("metadata") or {}).get("event_type") == "settle_alert"
    )
    top_level: Counter[str] = Counter()
    digests: dict[str, tuple[str, int]] = {}  # channel -> (its digest's text, its edits)
    for channel_id, channel in fake.channels.items():
        for m in channel.messages:
            if m.get("thread_ts"):
                continue
            top_level[channel_id] += 1
            if (m.get("metadata") or {}).get("event_type") == "settle_message":
                digests[channel_id] = (m["text"], int(m.get("edits", 0)))
    conn.send((dict(posted), dict(fake.throttled), dict(top_level), digests))
    fake.stop()


def serve_stripe(conn: Connection, declines: int, channels: int, latency: float, limit: int) -> None:
    """The customers and their cards exist before renewal day (Settle has read those events); on
    "storm" every renewal is declined at once."""
    fake = FakeStripe().start()
    invoices = []
    for i in range(declines):
        cus = fake.add_customer(f"Renewal {i}", channel=f"CRD{i % channels:03d}", admins="UBENCH")
        fake.add_card(cus, "4000000000009995", default=True)
        invoices.append(fake.add_invoice(cus, 12900))
    fake.latency, fake.max_per_second = latency, limit
    conn.send(fake.url)
    conn.recv()  # "storm"
    before = len(fake.events)
    for invoice in invoices:
        fake.renew(invoice)
    requests_before = len(fake.requests)
    conn.send([e for e in fake.events[before:] if e["type"] == "invoice.payment_failed"])
    conn.recv()
    conn.send((len(fake.requests) - requests_before, fake.limited))
    fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--declines", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--path", choices=("poll", "webhooks"), default="poll")
    parser.add_argument("--stripe-latency-ms", type=float, default=100.0)
    parser.add_argument("--stripe-limit", type=int, default=100, help="Stripe's requests a second (live: 100)")
    parser.add_argument("--digests", action="store_true", help="digests on (after 10 a channel), as by default")
    parser.add_argument("--timeline", action="store_true", help="print what is recorded and posted each second")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_PG, default=None, metavar="URL")
    args = parser.parse_args()

    slack_conn, there = multiprocessing.Pipe()
    slack = multiprocessing.Process(target=serve_slack, args=(there,), daemon=True)
    slack.start()
    stripe_conn, there2 = multiprocessing.Pipe()
    stripe = multiprocessing.Process(
        target=serve_stripe,
        args=(there2, args.declines, args.channels, args.stripe_latency_ms / 1000, args.stripe_limit),
        daemon=True,
    )
    stripe.start()
    slack_url = slack_conn.recv()
    stripe_url = stripe_conn.recv()

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        db = stack.enter_context(fresh_schema(args.postgres)) if args.postgres else f"sqlite:///{tmp}/settle.db"
        settings = Settings(
            DATABASE_URL=db,
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET="bench-signing-secret",
            SLACK_API_URL=slack_url,
            SETTLE_LINK_SECRET="bench-link-secret-16+",
            BILLING_PROVIDER="stripe",
            STRIPE_API_KEY=API_KEY,
            STRIPE_API_BASE=stripe_url,
            # as with a live key: 90 a second, below Stripe's 100 (a test key's default is 20)
            STRIPE_MAX_REQUESTS_PER_SECOND=str(args.stripe_limit * 0.9),
            # digests off: one message per alert, the worst case for Slack's pace; on: the defaults
            SETTLE_DIGEST_AFTER="10" if args.digests else "0",
        )
        settle = build(settings)
        settle.start_delivery()
        settle.poller.run_cycle()  # the days before: Settle has read the customers' events, its cursor is now
        stop = threading.Event()
        started = time.monotonic()
        stripe_conn.send("storm")
        events = stripe_conn.recv()  # every renewal declined, at once
        declined = time.monotonic() - started
        if args.path == "poll":

            def poll() -> None:  # as the scheduler does: every 2 s, never two at once
                while not stop.is_set():
                    settle.poller.scheduled()
                    stop.wait(2.0)

            threading.Thread(target=poll, daemon=True).start()
        else:
            provider: Any = settle.provider
            for event in events:  # each webhook answered at once, applied on the webhook pool
                settle.pools.webhooks.submit(lambda e=event: settle.poller.pushed(provider.event_changes(e)))
        first = last = None
        shown = started
        while time.monotonic() - started < 600:
            with reading(settle.sessions) as s:
                if args.digests:  # told: posted, or told in a digest whose message is up to date
                    told = (
                        s.scalar(select(func.count()).select_from(Alert).where(Alert.version <= Alert.synced_version))
                        or 0
                    )
                    behind = s.scalar(
                        select(func.count())
                        .select_from(Message)
                        .where(Message.kind == "digest", Message.version > Message.synced_version)
                    )
                    posted = told if not behind else min(told, args.declines - 1)
                else:
                    posted = s.scalar(select(func.count()).select_from(Alert).where(Alert.ts.is_not(None))) or 0
            if posted and first is None:
                first = time.monotonic() - started
            if args.timeline and time.monotonic() - shown >= 1.0:
                shown = time.monotonic()
                with reading(settle.sessions) as s:
                    recorded = s.scalar(select(func.count()).select_from(Alert)) or 0
                print(f"  {shown - started:5.1f} s: {recorded} recorded, {posted} in Slack", flush=True)
            if posted >= args.declines:
                last = time.monotonic() - started
                break
            time.sleep(0.1)
        stop.set()
        time.sleep(1.5)  # anything still in flight lands (a double would show now)
        settle.close(wait=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    slack_conn.send("stop")
    by_alert, throttled, top_level, digests = slack_conn.recv()
    stripe_conn.send("stop")
    requests, limited = stripe_conn.recv()
    slack.join()
    stripe.join()
    per_channel = -(-args.declines // args.channels)
    floor = per_channel - 1.0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.declines} declines across {args.channels} channels by {args.path}; Stripe {args.stripe_latency_ms:.0f}"
        f" ms, {args.stripe_limit}/s; {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    if args.digests:
        per = sorted(top_level.values())
        print(f"messages per channel: {per[0]}..{per[-1]} ({sum(per)} in {len(per)} channels)")
        for channel, (text, edits) in sorted(digests.items())[:2]:
            print(f"  {channel}'s digest, edited {edits} times: {text[:110]}")
        shown = f"{last:.2f} s" if last else "NOT within 600 s"
        print(f"first alert in Slack: {first if first is not None else float('nan'):.2f} s")
        print(f"every balance shown (its alert, or its digest up to date): {shown}")
        print(f"Stripe from the storm on: {requests} requests, {requests / args.declines:.2f} per decline")
        in_digests = sum(int(text.split(" ", 1)[0]) for text, _ in digests.values() if text.split(" ", 1)[0].isdigit())
        doubles = sum(1 for n in by_alert.values() if n > 1)
        print(f"alerts of their own: {len(by_alert)} (posted twice: {doubles}); told in digests: {in_digests}")
        ok = last is not None and len(digests) == len(top_level) and doubles == 0
        ok = ok and len(by_alert) + in_digests == args.declines
        print("digests met" if ok else "DIGESTS MISSED")
        sys.exit(0 if ok else 1)
    print(f"Slack's floor ({per_channel} per channel at 1/s): {floor:.1f} s")
    print(f"the stand-in declined every renewal in {declined:.2f} s")
    print(f"first alert in Slack: {first if first is not None else float('nan'):.2f} s (target <= 5)")
    shown = f"{last:.2f} s = {last / floor:.2f}x the floor" if last else "NOT ALL within 600 s"
    print(f"last alert in Slack: {shown} (target <= 1.5x)")
    per_decline = requests / args.declines
    print(f"Stripe from the storm on: {requests} requests, {per_decline:.2f} per decline, {limited} answered 429")
    doubles = sum(1 for n in by_alert.values() if n > 1)
    print(f"alerts in Slack: {len(by_alert)}, posted twice: {doubles}; Slack 429s: {sum(throttled.values())}")
    print(f"peak RSS of Settle's process: {peak_mb:.0f} MB")
    ok = last is not None and last <= 1.5 * floor and first is not None and first <= 5
    ok = ok and len(by_alert) == args.declines and doubles == 0
    print("target met" if ok else "TARGET MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
