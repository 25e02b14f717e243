"""The `settle` command: the process entry points, a module per command group. Each command builds
the process through the composition root (bot/app.py) only when it runs, so `settle --help` and
`settle --version` load nothing but click.

May import: everything (it is the top floor); at module level only click and bot.cli."""

from __future__ import annotations

import click

from bot.cli import accounts, audit, db, demo, report, sandbox, serve, stripe, workspaces


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="settle", prog_name="settle")
def main() -> None:
    """Settle: declined subscription payments, fixed from Slack."""


for command in (
    serve.serve,
    serve.poll,
    db.db,
    sandbox.sandbox,
    demo.demo,
    accounts.accounts,
    workspaces.workspaces,
    report.report,
    audit.audit,
    stripe.stripe,
):
    main.add_command(command)
