"""What `settle demo` runs: the whole alert loop on a throwaway sandbox, with Slack replaced by the
terminal."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from bot.app import build
from bot.billing.sandbox.loader import load_file
from bot.billing.sandbox.provider import SandboxProvider
from bot.cli.preview import builder_link, render_plain
from bot.domain.words import plural
from bot.settings import Settings
from bot.slack.recording import RecordingGateway


def run_demo(settings: Settings, accounts_file: Path, *, builder_links: bool = False) -> None:
    gateway = RecordingGateway()
    with tempfile.TemporaryDirectory(prefix="settle-demo-") as tmp:
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{Path(tmp) / 'demo.db'}",
                "billing_provider": "sandbox",
                "alert_channel": settings.alert_channel or "#billing-alerts",
            }
        )
        settle = build(demo_settings, gateway=gateway)
        provider = settle.provider
        assert isinstance(provider, SandboxProvider)
        summary = load_file(settle.sessions, accounts_file)
        settle.ingest.refresh_accounts(summary.account_ids)
        attempts = provider.bill()
        report = settle.poller.run_cycle()
        settle.close()

    click.secho("Settle demo: no Slack workspace or payment account needed.", bold=True)
    paid = sum(a.outcome == "succeeded" for a in attempts)
    click.echo(
        f"Loaded {plural(summary.accounts, 'sandbox account')} from {accounts_file.name} and ran their renewals "
        f"({plural(len(attempts), 'charge')}: {paid} paid, {len(attempts) - paid} failed), "
        f"then one poll cycle: {report.summary()}.\n"
    )
    for msg in gateway.messages:
        click.secho(f"── to {msg.channel} " + "─" * max(0, 60 - len(msg.channel)), fg="cyan")
        click.echo(render_plain(msg.blocks))
        click.secho(f"Notification text: {msg.text}", dim=True)
        if builder_links:
            click.secho(f"Preview in Block Kit Builder: {builder_link(msg.blocks)}", dim=True)
        click.echo()
    click.echo("Next: connect a workspace (README → 'Connect a real workspace') and run `settle serve`.")
