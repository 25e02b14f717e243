"""`settle sandbox`: the built-in sandbox billing provider's own operations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from bot.cli.common import echo, one_line_errors, process, settings
from bot.domain.words import plural

if TYPE_CHECKING:
    from bot.app import Settle
    from bot.billing.sandbox.provider import SandboxProvider


@click.group()
def sandbox() -> None:
    """The built-in sandbox billing provider."""


@contextmanager
def _sandbox() -> Iterator[tuple[Settle, SandboxProvider]]:
    # the provider only when a command runs: start-up time
    from bot.billing.sandbox.provider import SandboxProvider
    from bot.domain.errors import SettleError

    current = settings()
    if current.billing_provider != "sandbox":
        raise SettleError("BILLING_PROVIDER is not 'sandbox'")
    with process(current) as settle:
        assert isinstance(settle.provider, SandboxProvider)
        yield settle, settle.provider


@sandbox.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@one_line_errors
def sandbox_load(file: Path) -> None:
    """Load accounts, cards and invoices from FILE.yml (re-loading updates, never duplicates)."""
    # the loader only when it runs: start-up time
    from bot.billing.sandbox.loader import load_file

    with _sandbox() as (settle, _):
        s = load_file(settle.sessions, file)
        settle.ingest.refresh_accounts(s.account_ids)  # Settle reads the customers now, not at the next poll
    click.echo(
        f"Loaded {plural(s.accounts, 'account')}, {plural(s.payment_methods, 'payment method')} "
        f"and {plural(s.invoices, 'invoice')}."
    )


@sandbox.command("bill")
@one_line_errors
def sandbox_bill() -> None:
    """Charge every open invoice with its account's default card, as an automatic renewal would."""
    # records only when it runs: start-up time
    from bot.domain.records import card_label

    with _sandbox() as (_, provider):
        attempts = provider.bill()
    if not attempts:
        click.echo("no open invoices to bill")
    for a in attempts:
        reason = f" ({a.reason})" if a.reason else ""
        echo(f"{a.invoice_id}: {card_label(a.brand, a.last4)} {a.outcome}{reason}")


@sandbox.command("void")
@click.argument("invoice")
@one_line_errors
def sandbox_void(invoice: str) -> None:
    """Void an open INVOICE, as a billing admin would in Stripe: its alert closes at the next poll."""
    _close(invoice, "voided", "voided")


@sandbox.command("write-off")
@click.argument("invoice")
@one_line_errors
def sandbox_write_off(invoice: str) -> None:
    """Mark an open INVOICE uncollectible (written off): its alert closes at the next poll."""
    _close(invoice, "uncollectible", "written off (uncollectible)")


def _close(invoice: str, state: Literal["voided", "uncollectible"], said: str) -> None:
    with _sandbox() as (_, provider):
        provider.close_invoice(invoice, state)
    echo(f"{invoice}: {said}")


@sandbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@one_line_errors
def sandbox_status(as_json: bool) -> None:
    """Accounts, invoices and every charge attempt."""
    # money formatting (Babel) only when it runs: start-up time
    from bot.domain.money import format_money, to_minor
    from bot.domain.records import card_label

    with _sandbox() as (_, provider):
        status = provider.status()
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    if not status["accounts"]:
        click.echo("the sandbox is empty: load accounts with `settle sandbox load FILE.yml`")
    for acc in status["accounts"]:
        echo(f"{acc['name']} ({acc['id']}, {acc['currency']})", bold=True)
        for inv in acc["invoices"]:
            amount = format_money(to_minor(inv["amount"], inv["currency"]), inv["currency"])
            echo(f"  {inv['id']}  {amount:>12}  {inv['status']}")
            for a in inv["attempts"]:
                pm = a["payment_method"]
                reason = f" ({a['reason']})" if a["reason"] else ""
                echo(f"      {a['at'][:19]}  {card_label(pm['brand'], pm['last4'])}  {a['outcome']}{reason}")
