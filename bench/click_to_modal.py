"""Click -> views.open latency: `settle serve` against a bare Bolt app, on the same fake Slack.

    python bench/click_to_modal.py [--rounds 25] [--concurrency 12] [--slack-latency-ms 0] [--oauth]

Each click is a signed block_actions request with a fresh trigger_id; its latency runs from sending
the request to the fake Slack receiving the views.open for that trigger. Settle's path includes the
signature check, the payload guard, the server-side authorisation (database) and the listener pool;
the baseline only acks and opens. Targets (issue 4): p50 within 1.5x of the bare app, p99 < 300 ms.
With --oauth Settle runs installed in a workspace through OAuth (the token from the installation
store, Bolt's per-request authorisation), the bare app still on its one token.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pg import DEFAULT_PG, fresh_schema  # noqa: E402
from bench.seed import declined_balances  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.slack_requests import post, signed_headers  # noqa: E402

SECRET = "bench-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url + path, timeout=1)
            return
        except Exception as exc:  # 404/405 from the bare app still means it is up
            if getattr(exc, "code", None):
                return
            time.sleep(0.1)
    raise SystemExit("server did not start")


def seed(env: dict[str, str], accounts: int) -> list[int]:
    """Sandbox accounts whose renewals are declined, alerts posted; returns the alert ids."""

    data = {
        "accounts": [
            {
                "id": f"bench{i:03d}",
                "name": f"Bench {i}",
                "currency": "EUR",
                "slack_channel": "CBENCH",
                "admins": ["UBENCH"],
                "payment_methods": [{"card": "4000000000009995", "default": True}, {"card": "4242424242424242"}],
                "invoices": [{"amount": "129.00", "description": "Bench plan"}],
            }
            for i in range(accounts)
        ]
    }
    declined_balances(env, env["BENCH_TMP"], data["accounts"], poll=True)
    return list(range(1, accounts + 1))


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def installed(database_url: str, fake: FakeSlack) -> None:
    """Workspace T1 installed Settle (its row in the installation store); the fake Slack now knows
    each token's workspace, the bare app's included."""
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    SQLAlchemyInstallationStore(fake.client_credentials[0], engine).save(
        Installation(app_id="A1", team_id="T1", bot_token="xoxb-bench", bot_id="B1", bot_user_id="UBOT", user_id="U1")
    )
    engine.dispose()
    fake.tokens["xoxb-bench"] = "T1"


def click_body(trigger: str, alert_id: int) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": "UBENCH", "username": "bench", "team_id": "T1"},
        "team": {"id": "T1", "domain": "bench"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": "CBENCH"},
        "channel": {"id": "CBENCH", "name": "bench"},
        "trigger_id": trigger,
        "actions": [
            {
                "action_id": "settle_open",
                "block_id": "alert_actions",
                "type": "button",
                "value": str(alert_id),
                "action_ts": str(time.time()),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def one_round(
    fake: FakeSlack, url: str, alert_ids: list[int], pool: ThreadPoolExecutor, concurrency: int, filled: bool
) -> list[tuple[float, float]]:
    """`concurrency` simultaneous clicks; returns (click->views.open, click->filled) per click in ms."""
    barrier = threading.Barrier(concurrency)

    def one(i: int) -> tuple[float, float]:
        trigger = fake.new_trigger()
        body = click_body(trigger, alert_ids[i % len(alert_ids)])
        headers = signed_headers(body, secret=SECRET)
        barrier.wait()
        start = time.monotonic()
        status, _ = post(url + "/slack/events", body, headers)
        if status != 200:
            raise SystemExit(f"click answered {status}")
        with fake.opened_cond:
            if not fake.opened_cond.wait_for(lambda: trigger in fake.opened, timeout=10):
                raise SystemExit("views.open never arrived")
            opened = (fake.opened[trigger] - start) * 1000
            if not filled:
                return opened, opened
            if not fake.opened_cond.wait_for(lambda: fake.view_by_trigger.get(trigger) in fake.updated, timeout=10):
                raise SystemExit("the modal was never filled")
            return opened, (fake.updated[fake.view_by_trigger[trigger]] - start) * 1000

    return list(pool.map(one, range(concurrency)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25, help="bursts of --concurrency simultaneous clicks")
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--slack-latency-ms", type=float, default=0, help="added to every fake Slack call")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_PG, default=None, help="a fresh schema at this URL")
    parser.add_argument("--oauth", action="store_true", help="Settle installed through OAuth, not one bot token")
    args = parser.parse_args()

    fake = FakeSlack().start()
    if args.slack_latency_ms:
        for method in ("views.open", "views.update", "chat.postEphemeral", "chat.update", "usergroups.users.list"):
            fake.delay[method] = args.slack_latency_ms / 1000
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp, ExitStack() as stack:
        if args.postgres:
            args.database_url = stack.enter_context(fresh_schema(args.postgres))
        env = {
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.url,
            "SETTLE_ALERT_CHANNEL": "CBENCH",
            "POLL_INTERVAL_SECONDS": "3600",
            "BENCH_TMP": tmp,
        }
        alert_ids = seed(env, args.concurrency)
        full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        settle_env = full
        if args.oauth:
            settle_env = {k: v for k, v in full.items() if k != "SLACK_BOT_TOKEN"}
            settle_env.update(
                SLACK_CLIENT_ID=fake.client_credentials[0],
                SLACK_CLIENT_SECRET=fake.client_credentials[1],
                SETTLE_TOKEN_KEYS=new_key(),  # the row below is stored plain, as before encryption: still read
            )
            installed(env["DATABASE_URL"], fake)
        servers = {
            "bare Bolt (ack + views.open)": [sys.executable, str(ROOT / "bench" / "bare_app.py")],
            "settle serve": [sys.executable, "-m", "bot", "serve"],
        }
        procs: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in servers}
        try:
            for name, cmd in servers.items():
                port = free_port()
                proc = subprocess.Popen(
                    [*cmd, "--port", str(port)],
                    env=settle_env if name == "settle serve" else full,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                procs[name] = (f"http://127.0.0.1:{port}", proc)
                wait_healthy(procs[name][0], proc)
            # Both servers run throughout and rounds alternate between them, so drift in the
            # machine's load falls on both alike. The first two rounds of each warm up.
            with ThreadPoolExecutor(args.concurrency) as pool:
                for r in range(args.rounds + 2):
                    for name, (base, _) in procs.items():
                        rows = one_round(fake, base, alert_ids, pool, args.concurrency, name == "settle serve")
                        if r >= 2:
                            results[name][0].extend(o for o, _ in rows)
                            results[name][1].extend(f for _, f in rows)
        finally:
            for _, proc in procs.values():
                proc.terminate()
                proc.wait(timeout=10)
    fake.stop()

    clicks = args.rounds * args.concurrency
    mode = "; Settle installed through OAuth" if args.oauth else ""
    print(
        f"click -> views.open: {args.rounds} rounds of {args.concurrency} simultaneous clicks ({clicks} measured), "
        f"fake Slack latency {args.slack_latency_ms:g} ms{mode}; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores ({platform.machine()})"
    )
    print(f"{'':34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    rows = [(name, opens) for name, (opens, _) in results.items()]
    rows.append(("settle serve: click -> filled", results["settle serve"][1]))
    for name, values in rows:
        print(f"{name:34} {pct(values, 50):8.1f} {pct(values, 99):8.1f} {statistics.fmean(values):8.1f}")
    bare, settle = results["bare Bolt (ack + views.open)"][0], results["settle serve"][0]
    ratio = pct(settle, 50) / pct(bare, 50)
    verdict = "met" if ratio <= 1.5 and pct(settle, 99) < 300 else "NOT met"
    print(
        f"p50 ratio settle/bare: {ratio:.2f} (target <= 1.5); settle p99 {pct(settle, 99):.1f} ms (target < 300): "
        + verdict
    )


if __name__ == "__main__":
    main()
