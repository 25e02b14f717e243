"""`settle audit`: the audit trail."""

from __future__ import annotations

import json
from typing import Any

import click

from bot.cli.common import database, echo, one_line_errors


@click.command()
@click.option("--account", default=None, help="Only this account's events.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=500, show_default=True)
@one_line_errors
def audit(account: str | None, as_json: bool, limit: int) -> None:
    """The audit trail: every decline, alert, click, charge and outcome."""
    # the database layer only when it runs: start-up time
    from bot.domain.errors import SettleError
    from bot.domain.money import format_money
    from bot.read.accounts import known
    from storage.audit import list_events
    from storage.db import reading

    with database() as sessions, reading(sessions) as s:
        if account is not None and not known(s, account):
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
        # a free-text value (a reason) quoted, so what it says can never read as another field
        extra = " ".join(
            f"{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, str) and (' ' in v or '=' in v) else v}"
            for k, v in r["detail"].items()
        )
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
        echo("  ".join(p for p in parts if p is not None).rstrip())
