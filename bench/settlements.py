"""Settlements per second: two `settle serve` replicas on one PostgreSQL database, 50 admins each
settling their own account's balance at the same moment.

    python bench/settlements.py [--admins 50] [--postgres URL] [--slack-latency-ms 0]

Each admin opens the form (a signed click), picks a card, and confirms; half go to each replica.
Confirm -> charged runs from sending the confirmation to the settlement's row being recorded as
succeeded (its `updated_at`, on the replicas' clock, which is this machine's). The baseline,
measured in the same run on the same database, is the sandbox provider's own `pay_invoice`,
called for 50 other balances from 50 threads: the charges without Slack, Bolt or Settle's claims.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.click_to_modal import free_port, wait_healthy  # noqa: E402
from bench.pg import DEFAULT_PG, fresh_schema  # noqa: E402
from bench.seed import declined_balances  # noqa: E402
from bot.app import build  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import reading  # noqa: E402
from storage.models import Settlement  # noqa: E402
from tests.conftest import SIGNING_SECRET  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.harness import Harness  # noqa: E402


def accounts(prefix: str, n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"{prefix}{i:02d}",
            "name": f"Bench {prefix} {i}",
            "currency": "EUR",
            "slack_channel": "CBENCH",
            "admins": [f"UADM{i:02d}"],
            "payment_methods": [{"card": "4000000000009995", "default": True}, {"card": "4242424242424242"}],
            "invoices": [{"amount": "129.00", "description": "Bench plan"}],
        }
        for i in range(n)
    ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def baseline(settings: Settings, n: int) -> tuple[list[float], float]:
    """The provider alone: `pay_invoice` for n balances at once, each with its own key."""
    services = build(settings)
    try:
        provider = services.provider
        barrier = threading.Barrier(n)

        def one(i: int) -> float:
            barrier.wait()
            started = time.perf_counter()
            result = provider.pay_invoice(f"in_base{i:02d}_1", f"pm_base{i:02d}_2", idempotency_key=f"bench-base-{i}")
            assert result.outcome == "succeeded", result
            return (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            latencies = list(pool.map(one, range(n)))
        return latencies, time.perf_counter() - started
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admins", type=int, default=50)
    parser.add_argument("--postgres", default=DEFAULT_PG)
    parser.add_argument("--slack-latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    n = args.admins

    fake = FakeSlack().start()
    for method in ("views.open", "views.update", "views.push", "chat.update", "chat.postMessage"):
        fake.delay[method] = args.slack_latency_ms / 1000
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        db = stack.enter_context(fresh_schema(args.postgres))
        env = {
            "DATABASE_URL": db,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,  # the harness signs with it
            "SLACK_API_URL": fake.url,
            "POLL_INTERVAL_SECONDS": "3600",
            "SLACK_CHANNEL_INTERVAL_SECONDS": "0",
        }
        os.environ.update(env)
        declined_balances(env, tmp, accounts("bench", n) + accounts("base", n), poll=True)
        full = {**os.environ, "PYTHONPATH": str(ROOT)}

        base_lat, base_wall = baseline(Settings(), n)

        replicas = []
        for k in range(2):
            port = free_port()
            log = stack.enter_context(open(Path(tmp) / f"replica{k}.log", "w"))
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(port)], env=full, stdout=log, stderr=log
            )
            stack.callback(proc.wait, 30)
            stack.callback(proc.terminate)
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            replicas.append(f"http://127.0.0.1:{port}")

        services = build(Settings(), migrate=False)
        stack.callback(services.close)
        harnesses = [Harness(url, fake, services) for url in replicas]
        # every admin's form open and filled first: what is measured is the confirmations
        views = {}
        with ThreadPoolExecutor(n) as pool:

            def ready(i: int) -> str:
                h = harnesses[i % 2]
                view_id = h.open_modal(f"UADM{i:02d}", invoice_id=f"in_bench{i:02d}_1")
                h.choose(view_id, f"UADM{i:02d}", f"pm_bench{i:02d}_2")
                return view_id

            views = dict(zip(range(n), pool.map(ready, range(n)), strict=True))
            barrier = threading.Barrier(n)
            sent: dict[int, datetime] = {}

            def confirm(i: int) -> None:
                barrier.wait()
                sent[i] = datetime.now(UTC)
                resp = harnesses[i % 2].confirm(views[i], f"UADM{i:02d}")
                assert resp.status == 200, resp

            list(pool.map(confirm, range(n)))
        deadline = time.monotonic() + 60
        while True:
            with reading(services.sessions) as s:
                done = {
                    row.account_id: row.updated_at
                    for row in s.scalars(select(Settlement).where(Settlement.status == "succeeded"))
                    if row.account_id.startswith("bench")
                }
            if len(done) == n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        missing = n - len(done)
        latencies = [
            (done[f"bench{i:02d}"] - sent[i]).total_seconds() * 1000 for i in range(n) if f"bench{i:02d}" in done
        ]
        wall = (max(done.values()) - min(sent.values())).total_seconds()

    fake.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL")
    print(f"{n} admins on {n} accounts, 2 replicas, Slack latency {args.slack_latency_ms:.0f} ms")
    print(
        f"baseline: provider pay_invoice alone, {n} threads: p50 {statistics.median(base_lat):.0f} ms, "
        f"p99 {pct(base_lat, 99):.0f} ms, {n / base_wall:.0f} charges/s"
    )
    print(
        f"settle: confirm -> charged p50 {statistics.median(latencies):.0f} ms, p99 {pct(latencies, 99):.0f} ms, "
        f"{len(latencies) / wall:.1f} settlements/s" + (f"; {missing} NOT CHARGED" if missing else "")
    )
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
