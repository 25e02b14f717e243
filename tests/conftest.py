"""Shared fixtures: a database per test (SQLite, and PostgreSQL when it is there), a fake Slack,
and helpers to run the real `settle` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.base_client import BaseClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import event as sqlalchemy_event

from tests.fake_slack import FakeSlack

PG_URL = os.environ.get("SETTLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("SETTLE_REQUIRE_POSTGRES") == "1"
ROOT = Path(__file__).resolve().parent.parent

_pg_ok: bool | None = None


def postgres_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


# --- No Slack call while a database transaction is open -------------------------------------------
# Every Slack Web API call made in a test process (the gateway's, Bolt's, a listener's) is checked:
# the calling thread must hold no open transaction. A test fails at teardown if one did.

_open_transactions = threading.local()
_slack_in_transaction: list[str] = []


@sqlalchemy_event.listens_for(Engine, "begin")
def _began(conn: Any) -> None:
    _open_transactions.n = getattr(_open_transactions, "n", 0) + 1


@sqlalchemy_event.listens_for(Engine, "commit")
@sqlalchemy_event.listens_for(Engine, "rollback")
def _ended(conn: Any) -> None:
    _open_transactions.n = max(0, getattr(_open_transactions, "n", 0) - 1)


_api_call = BaseClient.api_call


def _guarded_api_call(self: BaseClient, api_method: str, *args: Any, **kwargs: Any) -> Any:
    if getattr(_open_transactions, "n", 0):
        _slack_in_transaction.append(f"{api_method} in {threading.current_thread().name}")
    return _api_call(self, api_method, *args, **kwargs)


BaseClient.api_call = _guarded_api_call  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def stand_ins_without_stripes_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Stripe stand-ins take requests as fast as they come: a test key's default pace (20 a second,
    under Stripe's test-mode 25) would only slow the suite. The limiter's own tests set a pace."""
    from bot.billing.stripe import client

    monkeypatch.setattr(client, "TEST_PER_SECOND", 10_000.0)
    monkeypatch.setenv("STRIPE_MAX_REQUESTS_PER_SECOND", "10000")  # for `settle` in a process of its own


@pytest.fixture(autouse=True)
def no_slack_call_inside_a_transaction() -> Iterator[None]:
    _slack_in_transaction.clear()
    yield
    assert _slack_in_transaction == [], f"Slack was called with a database transaction open: {_slack_in_transaction}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'settle.db'}"
        return
    if not postgres_available():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required here (SETTLE_REQUIRE_POSTGRES=1) but {PG_URL} does not answer")
        pytest.skip("PostgreSQL is not running at " + PG_URL)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'settle.db'}"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()
    assert not fake.invalid, f"Slack received invalid payloads: {fake.invalid}"


SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def env(db_url: str, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings for the code under test, in this process (monkeypatched) and for subprocesses."""
    return make_env(db_url, fake_slack, tmp_path, monkeypatch)


@pytest.fixture
def sqlite_env(
    sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """`env` on SQLite only, for tests of behaviour that does not depend on the database."""
    return make_env(sqlite_url, fake_slack, tmp_path, monkeypatch)


def make_env(db_url: str, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "SETTLE_ALERT_CHANNEL": "CALERTS",
        "SETTLE_ADMINS": "UGLOBAL,SADMINS",
        "PUBLIC_URL": "http://settle.test",
        "BILLING_PROVIDER": "sandbox",
        "SLACK_CHANNEL_INTERVAL_SECONDS": "0",  # the fake Slack has no per-channel limit unless a test sets one
    }
    monkeypatch.chdir(tmp_path)
    for key in ("SLACK_APP_TOKEN",):
        monkeypatch.delenv(key, raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def acme(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Any]:
    """A running Settle (SQLite) whose account Acme has a declined renewal and a posted alert."""
    yield from _acme(fake_slack, tmp_path)


@pytest.fixture
def acme_any_db(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Any]:
    """`acme` on SQLite and on PostgreSQL."""
    yield from _acme(fake_slack, tmp_path)


def _acme(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Any]:
    from tests.handlers.test_settle_flow import setup
    from tests.harness import Harness, running_server

    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        setup(harness, tmp_path)
        yield harness


# Commands whose process is the point (signals, the process's own logging): always their own process.
PROCESS_COMMANDS = {"serve", "poll"}


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60, check: bool = True, process: bool | None = None
) -> subprocess.CompletedProcess[str]:
    """`settle ARGS` with `env`: in this process through click's runner (fast), or for `serve`, `poll`
    and `process=True` in a process of its own. A crash shows its traceback on stderr either way."""
    if process is None:
        process = bool(args) and args[0] in PROCESS_COMMANDS
    if process:
        full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "bot", *args], env=full, capture_output=True, text=True, timeout=timeout
        )
    else:
        import traceback

        from click.testing import CliRunner

        from bot.cli import main

        result = CliRunner().invoke(main, list(args), env=env, prog_name="settle")
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            exc = result.exception
            stderr += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        proc = subprocess.CompletedProcess(["settle", *args], result.exit_code, result.stdout, stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"settle {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def spawn_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def write_accounts(path: Path, accounts: list[dict[str, Any]]) -> Path:
    """Write a sandbox YAML file (through yaml.safe_dump, so tests read like the README's example)."""
    import yaml

    path.write_text(yaml.safe_dump({"accounts": accounts}, sort_keys=False))
    return path


def account(
    acc_id: str,
    card: str,
    *,
    channel: str | None = None,
    admins: list[str] | None = None,
    extra_cards: list[str] | None = None,
    amount: str = "129.00",
    currency: str = "EUR",
    invoices: int = 1,
) -> dict[str, Any]:
    acc: dict[str, Any] = {
        "id": acc_id,
        "name": acc_id.title() + " Corp",
        "currency": currency,
        "admins": admins or ["U0ADMIN"],
        "payment_methods": [{"card": card, "default": True}] + [{"card": c} for c in (extra_cards or [])],
        "invoices": [{"amount": amount, "description": f"{acc_id} subscription, November"}]
        + [{"amount": amount, "description": f"{acc_id} subscription, extra {n}"} for n in range(2, invoices + 1)],
    }
    if channel:
        acc["slack_channel"] = channel
    return acc


@pytest.fixture
def fake_stripe() -> Iterator[Any]:
    from tests.fake_stripe import FakeStripe

    fake = FakeStripe().start()
    yield fake
    fake.stop()


STRIPE_WEBHOOK_SECRET = "whsec_test_settle"


@pytest.fixture
def stripe_env(env: dict[str, str], fake_stripe: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`env` with Stripe as the provider, its API at the local Stripe-shaped server."""
    return _with_stripe(env, fake_stripe, monkeypatch)


@pytest.fixture
def stripe_sqlite_env(sqlite_env: dict[str, str], fake_stripe: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`stripe_env` on SQLite only."""
    return _with_stripe(sqlite_env, fake_stripe, monkeypatch)


def _with_stripe(env: dict[str, str], fake_stripe: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from tests.fake_stripe import API_KEY

    values = {
        "BILLING_PROVIDER": "stripe",
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": fake_stripe.url,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return {**env, **values}


def load_accounts(services: Any, path: Path) -> Any:
    """`settle sandbox load` as the CLI does it: the YAML into the sandbox, and Settle reads the customers."""
    from bot.billing.sandbox.loader import load_file

    summary = load_file(services.sessions, path)
    services.ingest.refresh_accounts(summary.account_ids)
    return summary
