"""Issue 21's surfaces at renewal-day scale: 1,000 declined balances at once.

    python bench/where_people_are.py [--balances 1000] [--admins 50] [--postgres [URL]]

- the morning job: one look over every open balance, each admin's list built and posted to the fake
  Slack (each admin may settle balances/admins accounts; SETTLE_ADMINS may settle all of them);
- 1,000 pasted links: the time from Settle's answer to Slack until every chat.unfurl has arrived,
  and each unfurl's read (parse, find, card) on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pg import DEFAULT_PG, fresh_schema  # noqa: E402
from bench.seed import declined_balances  # noqa: E402
from bot.app import build  # noqa: E402
from bot.read.unfurls import Unfurls  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.harness import running_server  # noqa: E402
from tests.slack_requests import post, signed_headers  # noqa: E402

MONDAY_0905 = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--balances", type=int, default=1000)
    parser.add_argument("--admins", type=int, default=50)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_PG, default=None)
    args = parser.parse_args()
    fake = FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        db = stack.enter_context(fresh_schema(args.postgres)) if args.postgres else f"sqlite:///{tmp}/settle.db"
        env = {
            "DATABASE_URL": db,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "test-signing-secret",
            "SLACK_API_URL": fake.url,
            "SETTLE_ADMINS": "UBENCHALL",
            "PUBLIC_URL": "http://settle.test",
            "SETTLE_DIGEST_AFTER": "0",
        }
        accounts = [
            {
                "id": f"acc{i:04d}",
                "name": f"Account {i}",
                "currency": "EUR",
                "slack_channel": f"CBAL{i % 100:03d}",
                "admins": [f"UADM{i % args.admins:03d}"],
                "payment_methods": [{"card": "4000000000009995", "default": True}],
                "invoices": [{"amount": f"{100 + i}.00", "description": "Plan"}],
            }
            for i in range(args.balances)
        ]
        declined_balances(env, tmp, accounts, poll=False)
        for k, v in env.items():
            os.environ[k] = v
        services = build(Settings())
        services.poller.run_cycle(drain=False)  # record the declines (not posted: this is not what is timed)
        services.close()

        with running_server() as (base, svc):
            started = time.monotonic()
            sent = svc.morning.run(now=MONDAY_0905)
            morning = time.monotonic() - started
            biggest = max((len(fake.messages(u)) and fake.messages(u)[0]["text"] for u in ["UBENCHALL"]), default="")

            reads = []
            unfurls = Unfurls(svc.sessions, "settle.test")
            for i in range(args.balances):
                t0 = time.perf_counter()
                unfurls.find(f"http://settle.test/sandbox/invoices/in_acc{i:04d}_1", None, f"CBAL{i % 100:03d}")
                reads.append(time.perf_counter() - t0)

            before = len(fake.calls_to("chat.unfurl"))
            started = time.monotonic()
            acks = []
            for i in range(args.balances):
                event = {
                    "type": "link_shared",
                    "channel": f"CBAL{i % 100:03d}",
                    "user": "UADM000",
                    "message_ts": f"{time.time():.6f}",
                    "links": [{"url": f"http://settle.test/sandbox/invoices/in_acc{i:04d}_1", "domain": "settle.test"}],
                }
                body = json.dumps({"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event": event,
                                   "event_id": f"Ev{i}", "event_time": int(time.time())})  # fmt: skip
                t0 = time.perf_counter()
                status, _ = post(base + "/slack/events", body, signed_headers(body, content_type="application/json"))
                acks.append(time.perf_counter() - t0)
                assert status == 200
            while len(fake.calls_to("chat.unfurl")) - before < args.balances and time.monotonic() - started < 120:
                time.sleep(0.05)
            unfurled = len(fake.calls_to("chat.unfurl")) - before
            all_unfurled = time.monotonic() - started
    fake.stop()
    reads.sort()
    acks.sort()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.balances} open balances, {args.admins} account admins + SETTLE_ADMINS; "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}")  # fmt: skip
    print(f"morning job: {sent} lists sent in {morning:.2f} s; SETTLE_ADMINS' list: {biggest!r}")
    print(
        f"unfurl read: p50 {statistics.median(reads) * 1000:.1f} ms, p99 {reads[int(len(reads) * 0.99)] * 1000:.1f} ms"
    )
    print(
        f"{args.balances} link_shared events: ack p50 {statistics.median(acks) * 1000:.1f} ms, "
        f"p99 {acks[int(len(acks) * 0.99)] * 1000:.1f} ms; {unfurled} unfurled in {all_unfurled:.2f} s"
    )


if __name__ == "__main__":
    main()
