"""`settle db`: database maintenance."""

from __future__ import annotations

import click

from bot.cli.common import database, one_line_errors


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Apply Alembic migrations up to head."""
    with database():
        click.echo("database is at the latest schema")
