"""The `settle` command as an operator meets it: the demo, the sandbox commands, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import account, run_cli, write_accounts
from tests.fake_slack import FakeSlack


def test_demo_needs_nothing_and_shows_the_alerts(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'untouched.db'}", "SLACK_BOT_TOKEN": "", "HOME": str(tmp_path)}
    out = run_cli(env, "demo").stdout
    assert "Payment declined: Acme Corp" in out and "€129.00" in out and "Visa ·· 3155" in out
    assert "Strong Customer Authentication" in out and "[ Settle balance ]" in out
    assert "[ ⋯ Snooze 1 day, Snooze 3 days, Snooze until a date… ]" in out and "[ Assign to… ▾ ]" in out
    assert "[ ? ]" not in out
    assert "Payment declined: Globex Ltd" in out and "£1,250.00" in out
    assert "Umbrella" not in out  # its renewal went through
    assert "block-kit-builder" not in out and "(4 charges: 1 paid, 3 failed)" in out
    assert "Loaded 4 sandbox accounts" in out and "account(s)" not in out
    linked = run_cli(env, "demo", "--builder-links").stdout
    assert linked.count("https://app.slack.com/block-kit-builder/#") == 3


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    out = run_cli({"HOME": str(tmp_path)}, "--version").stdout
    assert out.strip() == f"settle, version {version('settle')}"
    assert not (tmp_path / "untouched.db").exists()  # the demo uses a throwaway database


def test_sandbox_load_bill_status_json(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "a.yml", [account("acme", "4000000000009995", extra_cards=["4242424242424242"])])
    assert (
        "Loaded 1 account, 2 payment methods and 1 invoice." in run_cli(sqlite_env, "sandbox", "load", str(path)).stdout
    )
    run_cli(sqlite_env, "sandbox", "load", str(path))  # idempotent
    bill = run_cli(sqlite_env, "sandbox", "bill").stdout
    assert "in_acme_1: Visa ·· 9995 declined (insufficient_funds)" in bill

    status = json.loads(run_cli(sqlite_env, "sandbox", "status", "--json").stdout)
    (acc,) = status["accounts"]
    assert (acc["id"], acc["name"], acc["currency"]) == ("acme", "Acme Corp", "EUR")
    (inv,) = acc["invoices"]
    assert (inv["id"], inv["amount"], inv["currency"], inv["status"]) == ("in_acme_1", "129.00", "EUR", "open")
    (att,) = inv["attempts"]
    assert att["outcome"] == "declined" and att["reason"] == "insufficient_funds"
    assert att["payment_method"] == {"brand": "Visa", "last4": "9995"} and att["id"] and att["at"]

    human = run_cli(sqlite_env, "sandbox", "status").stdout
    assert "Acme Corp (acme, EUR)" in human and "€129.00" in human


def test_poll_once_posts_then_is_quiet(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    run_cli(env, "db", "upgrade")
    run_cli(env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", [account("acme", "4000000000000002")])))
    run_cli(env, "sandbox", "bill")
    assert "1 posted" in run_cli(env, "poll", "--once").stdout
    assert "0 posted" in run_cli(env, "poll", "--once").stdout  # a restart does not re-post
    assert len(fake_slack.messages("CALERTS")) == 1


def _error(env: dict[str, str], *args: str) -> str:
    proc = run_cli(env, *args, check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_missing_token_is_one_clear_line(sqlite_env: dict[str, str]) -> None:
    assert "SLACK_BOT_TOKEN is not set" in _error({**sqlite_env, "SLACK_BOT_TOKEN": ""}, "poll", "--once")


def test_bad_yaml_names_the_line(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("accounts:\n  - id: acme\n    name: Acme\n    payment_methods:\n      - {card: 4111111111111112}\n")
    assert "line 5" in _error(sqlite_env, "sandbox", "load", str(bad))
    broken = tmp_path / "broken.yml"
    broken.write_text("accounts:\n  - id: acme\n    name: [unclosed\n")
    assert "line 4" in _error(sqlite_env, "sandbox", "load", str(broken))
    unknown = tmp_path / "card.yml"
    unknown.write_text("accounts:\n  - id: x\n    name: X\n    payment_methods:\n      - {card: '4012888888881881'}\n")
    line = _error(sqlite_env, "sandbox", "load", str(unknown))
    assert "line 5" in line and "test card" in line
    assert "No such file" in _error(sqlite_env, "sandbox", "load", str(tmp_path / "missing.yml"))


def test_unreachable_database_is_one_clear_line(sqlite_env: dict[str, str]) -> None:
    line = _error({**sqlite_env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}, "db", "upgrade")
    assert "cannot use the database at postgresql+psycopg://nobody@127.0.0.1:1/none" in line


def test_bad_setting_is_one_clear_line(sqlite_env: dict[str, str]) -> None:
    assert "POLL_INTERVAL_SECONDS" in _error({**sqlite_env, "POLL_INTERVAL_SECONDS": "soon"}, "poll", "--once")
    assert "BILLING_PROVIDER" in _error({**sqlite_env, "BILLING_PROVIDER": "paypal"}, "poll", "--once")


def test_audit_lists_what_happened(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    accounts = [account("acme", "4000000000000002"), account("globex", "4000000000009995")]
    run_cli(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", accounts)))
    run_cli(sqlite_env, "sandbox", "bill")
    run_cli(sqlite_env, "poll", "--once")
    rows = json.loads(run_cli(sqlite_env, "audit", "--json").stdout)
    assert [r["action"] for r in rows].count("decline_recorded") == 2
    assert [r["action"] for r in rows].count("alert_posted") == 2
    decline = next(r for r in rows if r["action"] == "decline_recorded" and r["account_id"] == "acme")
    assert decline["amount_minor"] == 12900 and decline["currency"] == "EUR"
    assert decline["payment_method"] == "Visa ·· 0002" and decline["provider_ref"].startswith("sbx_att_")
    only = json.loads(run_cli(sqlite_env, "audit", "--account", "globex", "--json").stdout)
    assert only and {r["account_id"] for r in only} == {"globex"}
    text = run_cli(sqlite_env, "audit").stdout
    assert "decline_recorded" in text and "€129.00" in text  # the amount column
    assert "unknown account: 'nosuch'" in _error(sqlite_env, "audit", "--account", "nosuch")


def test_hostile_or_oversized_input_is_refused_at_load(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    huge = account("acme", "4242424242424242")
    huge["name"] = "N" * 10_000
    line = _error(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", [huge])))
    assert "line 2" in line and "name is longer than 200" in line
    injected = account("acme", "4242424242424242", admins=["S|x> <!everyone"])
    line = _error(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "b.yml", [injected])))
    assert "admins must be a list of Slack user" in line
    channel = account("acme", "4242424242424242", channel="<!channel>")
    assert "slack_channel" in _error(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "c.yml", [channel])))
    bad_id = account("acme", "4242424242424242")
    bad_id["invoices"][0]["id"] = "<!channel>"
    assert "invoice id" in _error(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "d.yml", [bad_id])))
    assert "SETTLE_ADMINS" in _error({**sqlite_env, "SETTLE_ADMINS": "S|x> <!everyone"}, "poll", "--once")
    xyz = account("acme", "4242424242424242", currency="XYZ")
    line = _error(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "e.yml", [xyz])))
    assert "line 2" in line and "'XYZ' is not an ISO 4217 code" in line
    dinar = account("bahrain", "4242424242424242", currency="BHD", amount="12.345")
    assert (
        "Loaded 1 account"
        in run_cli(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "f.yml", [dinar]))).stdout
    )
    assert "SETTLE_ALERT_CHANNEL" in _error({**sqlite_env, "SETTLE_ALERT_CHANNEL": "<!here>"}, "poll", "--once")


def test_terminal_controls_in_names_are_not_printed(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    acc = account("acme", "4000000000000002")
    acc["name"] = "Acme \u202etnuocca\u202c Corp"  # a right-to-left override reorders the terminal line
    run_cli(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", [acc])))
    run_cli(sqlite_env, "sandbox", "bill")
    out = run_cli(sqlite_env, "sandbox", "status").stdout
    assert "\u202e" not in out and "\u202c" not in out and "Acme \ufffdtnuocca\ufffd Corp" in out
    escape = account("evil", "4242424242424242")
    escape["name"] = "Evil \x1b[2J Corp"
    assert "control characters" in _error(
        sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "b.yml", [escape]))
    )


def test_printable_strips_escapes_and_bidi_controls() -> None:
    from bot.cli.text import printable

    assert printable("a\x1b[31mb\x07c\x9bd\u2066e\nf") == "a\ufffd[31mb\ufffdc\ufffdd\ufffde\nf"


def test_stripe_webhook_endpoint_is_created_at_the_pinned_version(sqlite_env: dict[str, str]) -> None:
    from bot.billing.stripe.client import STRIPE_API_VERSION
    from bot.billing.stripe.feed import EVENT_TYPES
    from tests.fake_stripe import API_KEY, FakeStripe

    stripe = FakeStripe().start()
    try:
        env = {**sqlite_env, "BILLING_PROVIDER": "stripe", "STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": stripe.url}
        out = run_cli({**env, "PUBLIC_URL": "https://settle.example.com"}, "stripe", "webhook").stdout
        (endpoint,) = stripe.webhook_endpoints
        assert endpoint["url"] == "https://settle.example.com/stripe/webhook"
        assert endpoint["api_version"] == STRIPE_API_VERSION and endpoint["enabled_events"] == list(EVENT_TYPES)
        assert f"STRIPE_WEBHOOK_SECRET={endpoint['secret']}" in out
        refused = run_cli({**env, "PUBLIC_URL": "http://localhost:3000"}, "stripe", "webhook", check=False)
        assert refused.returncode == 1 and "only to https://" in refused.stderr and len(stripe.webhook_endpoints) == 1
    finally:
        stripe.stop()
