"""`settle accounts`: billing accounts and where their alerts go."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from bot.cli.common import database, echo, one_line_errors, settings

if TYPE_CHECKING:
    from bot.read.accounts import AccountRow


@click.group()
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
    # the database layer only when it runs: start-up time
    from bot.balances.routing import map_account
    from bot.domain.errors import SettleError
    from bot.read.accounts import account_row
    from storage.db import transaction

    if channel is None and not admins and name is None and language is None and team is None:
        raise SettleError("say what to map: --channel C…, --admin U… (repeatable), --name, --language or --team")
    with database() as sessions, transaction(sessions) as s:
        acc = map_account(
            s, account, channel=channel, admins=list(admins), name=name, replace=replace, locale=language, team=team
        )
        shown = account_line(account_row(acc))
    echo(f"mapped: {shown}")


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@one_line_errors
def accounts_list(as_json: bool) -> None:
    """Every account Settle knows, with its channel and admins (and where each came from)."""
    # the database layer only when it runs: start-up time
    from bot.read.accounts import account_rows
    from storage.db import reading

    current = settings()
    with database() as sessions, reading(sessions) as s:
        rows = account_rows(s)
    if as_json:
        data = [
            {
                "id": a.id,
                "name": a.name,
                "channel": a.channel,
                "channel_source": a.channel_source,
                "team": a.team,
                "admins": [{"id": slack_id, "source": source} for slack_id, source in a.admins],
            }
            for a in rows
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if not rows:
        click.echo("no accounts yet: they appear with their first declined payment (or `settle accounts map`)")
    for row in rows:
        echo(account_line(row))
    fallback = current.alert_channel or "nowhere (set SETTLE_ALERT_CHANNEL)"
    echo(f"accounts without a channel alert {fallback}; SETTLE_ADMINS may settle any account")


def account_line(acc: AccountRow) -> str:
    channel = acc.channel or "(default channel)"
    source = " [map]" if acc.channel_mapped else ""
    admins = ", ".join(f"{slack_id}{' [map]' if how == 'manual' else ''}" for slack_id, how in acc.admins) or "none"
    team = f"  workspace {acc.team}{' [map]' if acc.team_mapped else ''}" if acc.team else ""
    return f"{acc.id}  {acc.name}  channel {channel}{source}{team}  admins {admins}  language {acc.language}"
