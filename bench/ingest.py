"""Ingest rate: the first poll after a renewal run declined many sandbox renewals at once.

    python bench/ingest.py [--accounts 2000 --invoices 1] [--postgres [URL]]

Settle's figure is the time `Ingest.read_feed` takes to record every decline from the sandbox's
feed (alerts opened, invoices and declines upserted), Slack left out: delivery is measured by
bench/fanout.py and bench/renewal_day.py. Target (issue 18): at least 300 declines a second on the
first poll, SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pg import DEFAULT_PG, fresh_schema  # noqa: E402
from bench.seed import declined_balances  # noqa: E402
from bot.app import build  # noqa: E402
from bot.balances.ingest import IngestReport  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack.recording import RecordingGateway  # noqa: E402


def accounts(n: int, invoices: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"ing{i:05d}",
            "name": f"Ingest {i}",
            "currency": "EUR",
            "slack_channel": f"CING{i % 50:03d}",
            "admins": ["UBENCH"],
            "payment_methods": [{"card": "4000000000009995", "default": True}],
            "invoices": [{"amount": "129.00", "description": f"Plan {k}"} for k in range(invoices)],
        }
        for i in range(n)
    ]


def run(url: str, tmp: str, n: int, invoices: int) -> tuple[float, IngestReport]:
    env = {
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SETTLE_LINK_SECRET": "bench-link-secret-16+",
        "BENCH_TMP": tmp,
    }
    declined_balances(env, tmp, accounts(n, invoices), poll=False)
    settings = Settings(DATABASE_URL=url, SLACK_BOT_TOKEN="xoxb-bench", SETTLE_LINK_SECRET="bench-link-secret-16+")
    settle = build(settings, gateway=RecordingGateway())
    report = IngestReport()
    start = time.perf_counter()
    settle.ingest.read_feed(report)
    elapsed = time.perf_counter() - start
    settle.close()
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--invoices", type=int, default=1, help="declined invoices per account")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_PG, default=None, metavar="URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="settle-ingest-") as tmp, ExitStack() as stack:
        url = stack.enter_context(fresh_schema(args.postgres)) if args.postgres else f"sqlite:///{tmp}/ingest.db"
        elapsed, report = run(url, tmp, args.accounts, args.invoices)
    declines = report.new_declines
    print(
        f"ingest, first poll ({'PostgreSQL' if args.postgres else 'SQLite'}); "
        f"Python {platform.python_version()}, {os.cpu_count()} cores"
    )
    print(f"  {args.accounts} accounts x {args.invoices} invoice(s): {declines} declines, {report.new_alerts} alerts")
    print(f"  {elapsed:.2f} s, {declines / elapsed:.0f} declines/s (target >= 300)")


if __name__ == "__main__":
    main()
