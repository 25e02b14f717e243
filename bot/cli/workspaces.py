"""`settle workspaces`: the Slack workspaces Settle is installed in (OAuth)."""

from __future__ import annotations

import json

import click

from bot.cli.common import database, echo, one_line_errors, settings


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@one_line_errors
def workspaces(ctx: click.Context, as_json: bool) -> None:
    """The Slack workspaces Settle is installed in (OAuth): their ids for `accounts map --team`, and
    each one's alert channel."""
    if ctx.invoked_subcommand is not None:
        return
    # the database layer only when it runs: start-up time
    from bot.read.workspaces import installs
    from storage.db import reading

    current = settings()
    if not current.oauth:
        echo("one workspace: SLACK_BOT_TOKEN's (set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install in several)")
        return
    with database() as sessions, reading(sessions) as s:
        found = installs(s, (current.slack_client_id or "").strip())
    data = [
        {
            "team_id": w.team_id,
            "name": w.name,
            "installed_at": w.installed_at.isoformat() if w.installed_at else None,
            "accounts": w.accounts,
            "alert_channel": w.alert_channel,
        }
        for w in found.workspaces
    ]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not data:
        echo("installed in no workspace yet: open /slack/install on PUBLIC_URL")
    fallback = current.alert_channel or "none"
    for w in data:
        channel = w["alert_channel"] or f"{fallback} (SETTLE_ALERT_CHANNEL)"
        echo(f"{w['team_id']}  {w['name']}  installed {w['installed_at']}  accounts {w['accounts']}  channel {channel}")
    if found.unassigned_accounts:
        echo(
            f"{found.unassigned_accounts} accounts name no workspace: they go to the only one installed, "
            "if there is just one"
        )


@workspaces.command("channel")
@click.argument("team")
@click.argument("channel")
@one_line_errors
def workspaces_channel(team: str, channel: str) -> None:
    """Alert TEAM's accounts that have no channel of their own in CHANNEL (a channel id in TEAM);
    it replaces SETTLE_ALERT_CHANNEL for them, and takes TEAM's escalations."""
    # the database layer only when it runs: start-up time
    from bot.balances.routing import set_workspace_channel
    from storage.db import transaction

    with database() as sessions, transaction(sessions) as s:
        set_workspace_channel(s, team, channel)
    echo(f"{team}: accounts without a channel of their own are alerted in {channel}")


@workspaces.command("new-key")
def workspaces_new_key() -> None:
    """Print a new key for SETTLE_TOKEN_KEYS (the bot tokens' encryption at rest)."""
    from storage.token_cipher import new_key  # cryptography only when it runs: start-up time

    click.echo(new_key())


@workspaces.command("rotate-key")
@one_line_errors
def workspaces_rotate_key() -> None:
    """Encrypt every stored bot token with the first of SETTLE_TOKEN_KEYS (after putting a new key
    first; drop the old one once this has run). Tokens stored before encryption are encrypted too."""
    # the Slack and storage layers only when it runs: start-up time
    from bot.slack.install import AuditedInstallationStore
    from storage.token_cipher import TokenCipher

    current = settings()
    if not current.oauth:
        echo("one workspace: SLACK_BOT_TOKEN is not stored, so there is nothing to encrypt")
        return
    with database() as sessions:
        assert sessions.kw["bind"] is not None
        store = AuditedInstallationStore(
            (current.slack_client_id or "").strip(), sessions.kw["bind"], sessions, TokenCipher(current.token_keys)
        )
        changed = store.rotate()
    echo(f"{changed} stored token rows encrypted with the first key of SETTLE_TOKEN_KEYS")
