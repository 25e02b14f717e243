"""`settle demo`: Settle's alerts in seconds, no Slack workspace or payment account needed."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import one_line_errors, settings

EXAMPLE = Path(__file__).parent.parent / "billing" / "sandbox" / "example_accounts.yml"


@click.command()
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
    # the whole app only when it runs: start-up time
    import logging

    from bot.cli.demo_run import run_demo

    logging.basicConfig(level=logging.WARNING)
    run_demo(settings(), accounts or EXAMPLE, builder_links=builder_links)
