"""An idle poll (nothing new at the provider) over 10,000 open alerts against one over none.

Cost must grow with new work, never with history: the poll reads the provider's change feed since
its cursor and the alerts that need delivering, and nothing per open alert.

    python bench/idle_poll.py [--open 10000] [--cycles 30] [--database-url URL] [--provider stripe]

With --provider stripe the poll reads Stripe's Events from the Stripe-shaped local server of the
tests (tests/fake_stripe.py), and the Stripe API requests of a cycle are counted too.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build
from bot.settings import Settings
from bot.slack.recording import RecordingGateway
from storage.db import transaction
from storage.models import Account, Alert, AlertInvoice, Decline


def open_alerts(sessions: object, n: int) -> None:
    """n accounts with one declined, unpaid invoice each, already posted to Slack."""
    now = datetime.now(UTC)
    with transaction(sessions) as s:  # type: ignore[arg-type]
        s.add_all(Account(id=f"a{i}", name=f"Account {i}", currency="EUR") for i in range(n))
        s.flush()
        declines = [
            Decline(
                provider_failure_id=f"f{i}",
                account_id=f"a{i}",
                invoice_id=f"in_{i}",
                amount_minor=12900,
                currency="EUR",
                outcome="declined",
                reason="insufficient_funds",
                failed_at=now,
                seen_at=now,
            )
            for i in range(n)
        ]
        s.add_all(declines)
        s.flush()
        alerts = [
            Alert(account_id=f"a{i}", latest_decline_id=d.id, state="open", version=1, synced_version=1,
                  channel="C1", ts=f"1.{i}", created_at=now, updated_at=now)
            for i, d in enumerate(declines)
        ]  # fmt: skip
        s.add_all(alerts)
        s.flush()
        s.add_all(
            AlertInvoice(alert_id=a.id, invoice_id=f"in_{i}", amount_minor=12900, currency="EUR",
                         latest_decline_id=a.latest_decline_id, state="open", created_at=now)
            for i, a in enumerate(alerts)
        )  # fmt: skip


def idle_cycle_ms(url: str, n: int, cycles: int, provider: str) -> tuple[float, float]:
    """(median ms per idle cycle, provider API requests per idle cycle)."""
    fake = None
    extra = {}
    if provider == "stripe":
        from tests.fake_stripe import API_KEY, FakeStripe

        fake = FakeStripe().start()
        customer = fake.add_customer("Bench")  # one event, so the poll has a cursor
        extra = {"BILLING_PROVIDER": "stripe", "STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": fake.url}
        assert customer
    settings = Settings(
        DATABASE_URL=url, SLACK_BOT_TOKEN="xoxb-bench", SETTLE_LINK_SECRET="bench-link-secret-16+", **extra
    )
    settle = build(settings, gateway=RecordingGateway())
    if n:
        open_alerts(settle.sessions, n)
    settle.poller.run_cycle()  # warm: cursor, caches
    before = len(fake.requests) if fake else 0
    times = []
    for _ in range(cycles):
        start = time.perf_counter()
        settle.poller.run_cycle()
        times.append((time.perf_counter() - start) * 1000)
    calls = ((len(fake.requests) - before) / cycles) if fake else 0.0
    settle.close()
    if fake:
        fake.stop()
    return statistics.median(times), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--provider", choices=("sandbox", "stripe"), default="sandbox")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="settle-idle-") as tmp:
        urls = (
            [args.database_url] * 2 if args.database_url else [f"sqlite:///{tmp}/none.db", f"sqlite:///{tmp}/many.db"]
        )
        if args.database_url:
            print("note: with --database-url both runs share the database; give it an empty one", file=sys.stderr)
        none, none_calls = idle_cycle_ms(urls[0], 0, args.cycles, args.provider)
        many, many_calls = idle_cycle_ms(urls[1], args.open, args.cycles, args.provider)
    print(
        f"idle poll ({args.provider}), median of {args.cycles} cycles; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores"
    )
    calls = f"   {none_calls:.0f} Stripe request(s) per cycle" if args.provider == "stripe" else ""
    print(f"  0 open alerts:      {none:7.2f} ms{calls}")
    calls = f"   {many_calls:.0f} Stripe request(s) per cycle" if args.provider == "stripe" else ""
    print(f"  {args.open} open alerts: {many:7.2f} ms   ratio {many / none:.2f} (target <= 2){calls}")


if __name__ == "__main__":
    main()
