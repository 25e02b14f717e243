"""`settle report`: recovered revenue for a month."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.cli.common import database, echo, one_line_errors, process, settings


@click.command()
@click.option("--month", default=None, help="YYYY-MM (default: the month so far).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (amounts in minor units).")
@click.option(
    "--chart", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also draw the chart to this PNG."
)
@click.option(
    "--post",
    is_flag=True,
    help="Also post it, with its chart, to each workspace's alert channel (SETTLE_ALERT_CHANNEL).",
)
@one_line_errors
def report(month: str | None, as_json: bool, chart: Path | None, post: bool) -> None:
    """Recovered revenue for a month, per currency: declines, recovered through Settle (and how),
    paid elsewhere, still open, median time from decline to settled."""
    # the read model only when it runs: start-up time
    from datetime import UTC, datetime

    from bot.domain.errors import SettleError
    from bot.read.report import build_report, month_bounds, report_text
    from storage.db import reading

    current = settings()
    month = month or datetime.now(UTC).strftime("%Y-%m")
    try:
        month_bounds(month)
    except ValueError as exc:
        raise SettleError(f"--month: {exc}") from None
    with database() as sessions, reading(sessions) as s:
        result = build_report(s, month)
    if chart is not None:
        # matplotlib only for a chart: start-up time
        from bot.read.report_chart import chart_png

        chart.write_bytes(chart_png(result))
    if post:
        # Slack only to post: start-up time
        from bot.app import require_slack

        require_slack(current)
        with process(current) as settle:
            if not settle.reports.post_now(month):
                raise SettleError("SETTLE_ALERT_CHANNEL is not set: where should the report go?")
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        echo(report_text(result))
