"""Fan-out at Slack's ceiling: deliver many alerts across many channels against a fake Slack that
enforces about one message per second per channel (429 with Retry-After otherwise).

    python bench/fanout.py [--alerts 100 --channels 20] [--slack-latency-ms 100] [--postgres [URL]] [--shared]

With --shared every account also has a channel shared with its customer: each decline is told there
too (one customer notice per account, each in its own channel), beside the internal alerts.

Settle's figure is the time `AlertDeliverer.deliver_all` takes to post every alert. The baseline,
measured in the same run against the same fake, is a bare slack_sdk client with one thread per
channel posting at exactly the limit and touching no database: the floor as this machine sees it.
Target (issue 12): within 2x the floor, at most one 429 per channel, every alert posted once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from bench.pg import DEFAULT_PG, fresh_schema  # noqa: E402
from bench.seed import declined_balances  # noqa: E402
from bot.app import build  # noqa: E402
from bot.balances.ingest import IngestReport  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402

SLACK_INTERVAL = 1.0


def seed(env: dict[str, str], alerts: int, channels: int, *, shared: bool = False) -> None:
    """`alerts` sandbox accounts spread evenly over `channels` channels, each renewal declined
    (with `shared`, each also told in a channel shared with its customer)."""
    data = {
        "accounts": [
            {
                "id": f"fan{i:04d}",
                "name": f"Fan-out {i}",
                "currency": "EUR",
                "slack_channel": f"CFAN{i % channels:03d}",
                "admins": ["UBENCH"],
                "payment_methods": [{"card": "4000000000009995", "default": True}],
                "invoices": [{"amount": "129.00", "description": "Plan"}],
                **({"customer_channel": f"CSHR{i:04d}"} if shared else {}),
            }
            for i in range(alerts)
        ]
    }
    declined_balances(env, env["BENCH_TMP"], data["accounts"], poll=False)


def serve_fake(conn: Connection, latency: float) -> None:
    """The fake Slack in a process of its own, so its work is not counted as Settle's."""
    fake = FakeSlack().start()
    fake.channel_interval = SLACK_INTERVAL
    fake.delay["chat.postMessage"] = latency
    conn.send(fake.url)
    conn.recv()  # until told to stop: then the figures
    posted = Counter(
        m["metadata"]["event_payload"]["alert_id"]
        for m in fake.messages()
        if (m.get("metadata") or {}).get("event_payload", {}).get("alert_id")
    )
    notices = sum(len(ch.messages) for cid, ch in fake.channels.items() if cid.startswith("CSHR"))
    conn.send((dict(posted), dict(fake.throttled), notices))
    fake.stop()


def floor_run(url: str, alerts: int, channels: int) -> float:
    """The bare client: a thread per channel, a post, then exactly the limit's wait after Slack's answer."""
    client = WebClient(token="xoxb-bench", base_url=url)
    per_channel = [alerts // channels + (1 if c < alerts % channels else 0) for c in range(channels)]

    def one(c: int) -> None:
        for k in range(per_channel[c]):
            if k:
                time.sleep(SLACK_INTERVAL)
            client.chat_postMessage(channel=f"CFLOOR{c:03d}", text="floor")

    threads = [threading.Thread(target=one, args=(c,)) for c in range(channels)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--slack-latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=None, help="Slack calls in flight (default: Settle's)")
    parser.add_argument("--shared", action="store_true", help="each account also told in a channel shared with it")
    parser.add_argument(
        "--postgres", nargs="?", const=DEFAULT_PG, default=None, help="a PostgreSQL URL (default: SQLite)"
    )
    args = parser.parse_args()

    here, there = multiprocessing.Pipe()
    fake_proc = multiprocessing.Process(target=serve_fake, args=(there, args.slack_latency_ms / 1000), daemon=True)
    fake_proc.start()
    fake_url = here.recv()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        db = stack.enter_context(fresh_schema(args.postgres)) if args.postgres else f"sqlite:///{tmp}/settle.db"
        env = {
            "DATABASE_URL": db,
            "BENCH_TMP": tmp,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": fake_url,
            "SETTLE_ADMINS": "UBENCH",
        }
        seed(env, args.alerts, args.channels, shared=args.shared)
        settings = Settings(**{k.lower(): v for k, v in env.items() if k != "BENCH_TMP"})  # type: ignore[arg-type]
        services = build(settings)
        if args.concurrency:
            services.fanout.concurrency = args.concurrency
        services.ingest.read_feed(IngestReport())  # record the declines; nothing posted yet

        floor = floor_run(fake_url, args.alerts, args.channels)
        started, cpu = time.monotonic(), time.process_time()
        report = services.fanout.deliver_all()
        while args.shared and (more := services.fanout.deliver_all(backing_off=True)).messages:
            report.merge(more)  # the notices a round left (posted after their alerts' round)
        ours, cpu = time.monotonic() - started, time.process_time() - cpu
        services.close()

    here.send("stop")
    posted, all_throttled, notices = here.recv()
    fake_proc.join()
    throttled = {ch: n for ch, n in all_throttled.items() if ch.startswith("CFAN")}
    per_channel = -(-args.alerts // args.channels)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.alerts} alerts across {args.channels} channels ({per_channel} per channel), "
        f"Slack latency {args.slack_latency_ms:.0f} ms, {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    print(f"theoretical floor ({per_channel - 1} x {SLACK_INTERVAL:.0f} s): {(per_channel - 1) * SLACK_INTERVAL:.2f} s")
    print(f"baseline: bare client, a thread per channel: {floor:.2f} s")
    print(f"settle deliver_all: {ours:.2f} s = {ours / floor:.2f}x the measured floor (CPU {cpu:.2f} s)")
    print(
        f"posted {report.posted}, failed {len(report.failed)}; alerts posted more than once: "
        f"{sum(1 for n in posted.values() if n > 1)}; alerts posted: {len(posted)}"
    )
    print(f"429s: {sum(throttled.values())} in all, at most {max(throttled.values(), default=0)} in one channel")
    if args.shared:
        print(f"customer notices posted: {notices} of {args.alerts} (one per shared channel)")
    ok = len(posted) == args.alerts and all(n == 1 for n in posted.values()) and ours <= 2 * floor
    ok = ok and (notices == args.alerts or not args.shared)
    ok = ok and max(throttled.values(), default=0) <= 1
    print("target met" if ok else "TARGET MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
