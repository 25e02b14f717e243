"""The `settle` command."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from bot.cli.text import plural, printable
from bot.domain.errors import SettleError
from bot.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err.get("loc"):
            raise SettleError(msg) from None
        raise SettleError(f"{err['loc'][0]}: {msg}") from None


def one_line_errors(fn: F) -> F:
    """Operator mistakes end as one line on stderr and exit 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bot.billing.base import BillingError
        from bot.billing.sandbox.loader import LoadError
        from bot.slack.gateway import SlackError

        try:
            return fn(*args, **kwargs)
        except (SettleError, LoadError, BillingError) as exc:
            raise click.ClickException(str(exc)) from None
        except SlackError as exc:
            raise click.ClickException(f"Slack refused the request: {exc.code}") from None

    return wrapper  # type: ignore[return-value]


def _echo(text: str, **style: Any) -> None:
    click.secho(printable(text), **style)


def _logging(verbose: bool) -> None:
    from bot.observe.logs import configure

    configure(verbose)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="settle", prog_name="settle")
def main() -> None:
    """Settle: declined subscription payments, fixed from Slack."""


@main.command()
@click.option("--port", default=3000, show_default=True, help="HTTP port for /slack/events and /healthz.")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--threads", default=16, show_default=True, help="Request worker threads.")
@click.option("-v", "--verbose", is_flag=True)
@one_line_errors
def serve(port: int, host: str, threads: int, verbose: bool) -> None:
    """Run the Slack app (HTTP, or Socket Mode when SLACK_APP_TOKEN is set) and the poller."""
    from bot.cli.serve import serve_forever

    _logging(verbose)
    serve_forever(_settings(), host=host, port=port, threads=threads)


@main.command()
@click.option("--once", is_flag=True, help="One poll-and-post cycle, then exit.")
@click.option("-v", "--verbose", is_flag=True)
@one_line_errors
def poll(once: bool, verbose: bool) -> None:
    """Read new payment failures and post (or update) their alerts."""
    from bot.app import build, require_slack

    _logging(verbose)
    settings = _settings()
    require_slack(settings)
    settle = build(settings)
    if once:
        # SIGTERM waits for the cycle: a post Slack accepted is recorded before the process exits.
        # The handler stays until the process exits: a SIGTERM just after the cycle is not fatal either.
        with _deferred_sigterm() as stop_requested:
            report = settle.poller.run_cycle()
            _echo(report.summary())
            if report.delivery.failed and not stop_requested():
                sys.exit(1)
        return
    click.echo(f"polling every {settings.poll_interval_seconds}s; Ctrl-C to stop", err=True)
    scheduler = settle.scheduler(blocking=True)
    # SIGTERM stops the schedule; the cycle under way finishes on its worker thread before exit.
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


@contextlib.contextmanager
def _deferred_sigterm() -> Iterator[Callable[[], bool]]:
    """SIGTERM only noted, for the rest of a process that is about to end anyway (`poll --once`)."""
    received: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    yield lambda: bool(received)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Apply Alembic migrations up to head."""
    from bot.app import open_database

    settings = _settings()
    open_database(settings.database_url, migrate=True)
    click.echo("database is at the latest schema")


@main.group()
def sandbox() -> None:
    """The built-in sandbox billing provider."""


def _sandbox() -> Any:
    from bot.app import build
    from bot.billing.sandbox.provider import SandboxProvider

    settings = _settings()
    if settings.billing_provider != "sandbox":
        raise SettleError("BILLING_PROVIDER is not 'sandbox'")
    settle = build(settings)
    assert isinstance(settle.provider, SandboxProvider)
    return settle


@sandbox.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@one_line_errors
def sandbox_load(file: Path) -> None:
    """Load accounts, cards and invoices from FILE.yml (re-loading updates, never duplicates)."""
    from bot.billing.sandbox.loader import load_file

    settle = _sandbox()
    s = load_file(settle.sessions, file)
    click.echo(
        f"Loaded {plural(s.accounts, 'account')}, {plural(s.payment_methods, 'payment method')} "
        f"and {plural(s.invoices, 'invoice')}."
    )


@sandbox.command("bill")
@one_line_errors
def sandbox_bill() -> None:
    """Charge every open invoice with its account's default card, as an automatic renewal would."""
    from bot.billing.base import card_label

    settle = _sandbox()
    attempts = settle.provider.bill()
    if not attempts:
        click.echo("no open invoices to bill")
    for a in attempts:
        reason = f" ({a.reason})" if a.reason else ""
        _echo(f"{a.invoice_id}: {card_label(a.brand, a.last4)} {a.outcome}{reason}")


@sandbox.command("void")
@click.argument("invoice")
@one_line_errors
def sandbox_void(invoice: str) -> None:
    """Void an open INVOICE, as a billing admin would in Stripe: its alert closes at the next poll."""
    _sandbox().provider.close_invoice(invoice, "voided")
    _echo(f"{invoice}: voided")


@sandbox.command("write-off")
@click.argument("invoice")
@one_line_errors
def sandbox_write_off(invoice: str) -> None:
    """Mark an open INVOICE uncollectible (written off): its alert closes at the next poll."""
    _sandbox().provider.close_invoice(invoice, "uncollectible")
    _echo(f"{invoice}: written off (uncollectible)")


@sandbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@one_line_errors
def sandbox_status(as_json: bool) -> None:
    """Accounts, invoices and every charge attempt."""
    from bot.billing.base import card_label
    from bot.domain.money import format_money, to_minor

    settle = _sandbox()
    status = settle.provider.status()
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    if not status["accounts"]:
        click.echo("the sandbox is empty: load accounts with `settle sandbox load FILE.yml`")
    for acc in status["accounts"]:
        _echo(f"{acc['name']} ({acc['id']}, {acc['currency']})", bold=True)
        for inv in acc["invoices"]:
            amount = format_money(to_minor(inv["amount"], inv["currency"]), inv["currency"])
            _echo(f"  {inv['id']}  {amount:>12}  {inv['status']}")
            for a in inv["attempts"]:
                pm = a["payment_method"]
                reason = f" ({a['reason']})" if a["reason"] else ""
                _echo(f"      {a['at'][:19]}  {card_label(pm['brand'], pm['last4'])}  {a['outcome']}{reason}")


@main.command()
@click.option(
    "--accounts",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Accounts YAML to use instead of the bundled example.",
)
@click.option("--builder-links", is_flag=True, help="Also print a Block Kit Builder link for each message.")
@one_line_errors
def demo(accounts: Path | None, builder_links: bool) -> None:
    """See Settle's alerts in seconds: bundled example accounts, a throwaway sandbox, no Slack needed."""
    from bot.cli.demo import EXAMPLE, run_demo

    logging.basicConfig(level=logging.WARNING)
    run_demo(_settings(), accounts or EXAMPLE, builder_links=builder_links)


@main.group()
def accounts() -> None:
    """Billing accounts and where their alerts go."""


@accounts.command("map")
@click.argument("account")
@click.option("--channel", default=None, help="Slack channel id (C…) for this account's alerts.")
@click.option("--admin", "admins", multiple=True, help="Slack user (U…) or user-group (S…) id; repeatable.")
@click.option("--name", default=None, help="Name to show until the billing provider gives one.")
@click.option("--replace", is_flag=True, help="Replace the admins set here before instead of adding.")
@click.option("--language", default=None, help="The language of its channel alerts: en or nl.")
@click.option("--team", default=None, help="Slack workspace id (T…) of its channel, when Settle is in several.")
@one_line_errors
def accounts_map(
    account: str,
    channel: str | None,
    admins: tuple[str, ...],
    name: str | None,
    replace: bool,
    language: str | None,
    team: str | None,
) -> None:
    """Route ACCOUNT (a Stripe customer id, cus_…) to a channel and admins, without touching its
    metadata. What is set here wins over the customer's settle_channel; admins add to settle_admins."""
    from bot.app import open_database
    from bot.balances.routing import map_account
    from storage.db import transaction

    if channel is None and not admins and name is None and language is None and team is None:
        raise SettleError("say what to map: --channel C…, --admin U… (repeatable), --name, --language or --team")
    _, sessions = open_database(_settings().database_url)
    with transaction(sessions) as s:
        acc = map_account(
            s, account, channel=channel, admins=list(admins), name=name, replace=replace, locale=language, team=team
        )
        shown = _account_line(acc)
    _echo(f"mapped: {shown}")


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@one_line_errors
def accounts_list(as_json: bool) -> None:
    """Every account Settle knows, with its channel and admins (and where each came from)."""
    from sqlalchemy import select

    from bot.app import open_database
    from storage.db import reading
    from storage.models import Account

    settings = _settings()
    _, sessions = open_database(settings.database_url)
    with reading(sessions) as s:
        rows = list(s.scalars(select(Account).order_by(Account.id)))
        data = [
            {
                "id": a.id,
                "name": a.name,
                "channel": a.channel,
                "channel_source": "map" if a.mapped_channel else ("provider" if a.slack_channel else None),
                "team": a.team,
                "admins": [{"id": ad.slack_id, "source": ad.source} for ad in a.admins],
            }
            for a in rows
        ]
        lines = [_account_line(a) for a in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not lines:
        click.echo("no accounts yet: they appear with their first declined payment (or `settle accounts map`)")
    for line in lines:
        _echo(line)
    fallback = settings.alert_channel or "nowhere (set SETTLE_ALERT_CHANNEL)"
    _echo(f"accounts without a channel alert {fallback}; SETTLE_ADMINS may settle any account")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@one_line_errors
def workspaces(ctx: click.Context, as_json: bool) -> None:
    """The Slack workspaces Settle is installed in (OAuth): their ids for `accounts map --team`, and
    each one's alert channel."""
    from sqlalchemy import func, select

    from bot.app import open_database
    from storage.db import reading
    from storage.models import Account, Base, WorkspaceSetting

    if ctx.invoked_subcommand is not None:
        return

    settings = _settings()
    if not settings.oauth:
        _echo("one workspace: SLACK_BOT_TOKEN's (set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install in several)")
        return
    bots = Base.metadata.tables["slack_bots"]
    _, sessions = open_database(settings.database_url)
    with reading(sessions) as s:
        rows = s.execute(
            select(bots.c.team_id, bots.c.team_name, func.max(bots.c.installed_at))
            .where(bots.c.bot_token.is_not(None), bots.c.client_id == (settings.slack_client_id or "").strip())
            .group_by(bots.c.team_id, bots.c.team_name)
            .order_by(bots.c.team_id)
        ).all()
        channels = {t: c for t, c in s.execute(select(WorkspaceSetting.team_id, WorkspaceSetting.alert_channel))}
        mapped: dict[str | None, int] = dict(s.execute(select(Account.team, func.count()).group_by(Account.team)).all())
    data = [
        {
            "team_id": t,
            "name": n,
            "installed_at": at.isoformat() if at else None,
            "accounts": mapped.get(t, 0),
            "alert_channel": channels.get(t),
        }
        for t, n, at in rows
    ]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not data:
        _echo("installed in no workspace yet: open /slack/install on PUBLIC_URL")
    fallback = settings.alert_channel or "none"
    for w in data:
        channel = w["alert_channel"] or f"{fallback} (SETTLE_ALERT_CHANNEL)"
        _echo(
            f"{w['team_id']}  {w['name']}  installed {w['installed_at']}  accounts {w['accounts']}  channel {channel}"
        )
    if mapped.get(None):
        _echo(f"{mapped[None]} accounts name no workspace: they go to the only one installed, if there is just one")


@workspaces.command("channel")
@click.argument("team")
@click.argument("channel")
@one_line_errors
def workspaces_channel(team: str, channel: str) -> None:
    """Alert TEAM's accounts that have no channel of their own in CHANNEL (a channel id in TEAM);
    it replaces SETTLE_ALERT_CHANNEL for them, and takes TEAM's escalations."""
    from datetime import UTC, datetime

    from bot.app import open_database
    from bot.domain.slack_ids import is_channel, is_team
    from storage import audit
    from storage.db import transaction
    from storage.models import WorkspaceSetting

    if not is_team(team):
        raise SettleError(f"{team!r} is not a Slack workspace id (T…): `settle workspaces` lists them")
    if not is_channel(channel):
        raise SettleError(f"{channel!r} is not a Slack channel id (C…, G…)")
    _, sessions = open_database(_settings().database_url)
    with transaction(sessions) as s:
        row = s.get(WorkspaceSetting, team) or WorkspaceSetting(team_id=team)
        row.alert_channel, row.updated_at = channel, datetime.now(UTC)
        s.add(row)
        audit.record(s, "workspace_channel_set", actor="cli", team_id=team, channel=channel)
    _echo(f"{team}: accounts without a channel of their own are alerted in {channel}")


def _account_line(acc: Any) -> str:
    channel = acc.channel or "(default channel)"
    source = " [map]" if acc.mapped_channel else ""
    admins = ", ".join(f"{a.slack_id}{' [map]' if a.source == 'manual' else ''}" for a in acc.admins) or "none"
    team = f"  workspace {acc.team}{' [map]' if acc.mapped_team else ''}" if acc.team else ""
    return f"{acc.id}  {acc.name}  channel {channel}{source}{team}  admins {admins}  language {acc.locale or 'en'}"


@main.command()
@click.option("--month", default=None, help="YYYY-MM (default: the month so far).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (amounts in minor units).")
@click.option(
    "--chart", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also draw the chart to this PNG."
)
@click.option("--post", is_flag=True, help="Also post it, with its chart, to SETTLE_ALERT_CHANNEL.")
@one_line_errors
def report(month: str | None, as_json: bool, chart: Path | None, post: bool) -> None:
    """Recovered revenue for a month, per currency: declines, recovered through Settle (and how),
    paid elsewhere, still open, median time from decline to settled."""
    from datetime import UTC, datetime

    from bot.app import open_database
    from bot.read.report import build_report, month_bounds, report_text
    from storage.db import reading

    settings = _settings()
    month = month or datetime.now(UTC).strftime("%Y-%m")
    try:
        month_bounds(month)
    except ValueError as exc:
        raise SettleError(f"--month: {exc}") from None
    _, sessions = open_database(settings.database_url)
    with reading(sessions) as s:
        result = build_report(s, month)
    if chart is not None:
        from bot.read.report_chart import chart_png

        chart.write_bytes(chart_png(result))
    if post:
        from bot.app import build, require_slack

        require_slack(settings)
        if not settings.alert_channel:
            raise SettleError("SETTLE_ALERT_CHANNEL is not set: where should the report go?")
        settle = build(settings)
        settle.reports.post(result)
        settle.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _echo(report_text(result))


@main.command()
@click.option("--account", default=None, help="Only this account's events.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=500, show_default=True)
@one_line_errors
def audit(account: str | None, as_json: bool, limit: int) -> None:
    """The audit trail: every decline, alert, click, charge and outcome."""
    from bot.app import open_database
    from bot.domain.money import format_money
    from storage.audit import list_events
    from storage.db import reading
    from storage.models import Account

    _, sessions = open_database(_settings().database_url)
    with reading(sessions) as s:
        if account is not None and s.get(Account, account) is None:
            raise SettleError(f"unknown account: {account!r} (settle sandbox status lists the accounts)")
        events = list_events(s, account, limit)
        rows: list[dict[str, Any]] = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "account_id": e.account_id,
                "invoice_id": e.invoice_id,
                "amount_minor": e.amount_minor,
                "currency": e.currency,
                "payment_method": e.payment_method,
                "provider_ref": e.provider_ref,
                "detail": e.detail,
            }
            for e in events
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no audit events yet")
    for r in rows:
        extra = " ".join(f"{k}={v}" for k, v in r["detail"].items())
        amount = (
            format_money(r["amount_minor"], r["currency"]) if r["amount_minor"] is not None and r["currency"] else "-"
        )
        parts = [
            r["at"][:19],
            f"{r['actor']:<12}",
            f"{r['action']:<24}",
            r["account_id"] or "-",
            r["invoice_id"] or "-",
            f"{amount:>12}",
            r["payment_method"] or "",
            r["provider_ref"] or "",
            extra,
        ]
        _echo("  ".join(p for p in parts if p is not None).rstrip())
