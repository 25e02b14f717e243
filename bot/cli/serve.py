"""`settle serve` and `settle poll`: the long-running processes."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

import click

from bot.cli.common import configure_logging, echo, one_line_errors, settings


@click.command()
@click.option("--port", default=3000, show_default=True, help="HTTP port for /slack/events and /healthz.")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--threads", default=16, show_default=True, help="Request worker threads.")
@click.option("-v", "--verbose", is_flag=True)
@one_line_errors
def serve(port: int, host: str, threads: int, verbose: bool) -> None:
    """Run the Slack app (HTTP, or Socket Mode when SLACK_APP_TOKEN is set) and the poller."""
    # the whole app only when it runs: start-up time
    from bot.cli.serving import serve_forever

    configure_logging(verbose)
    serve_forever(settings(), host=host, port=port, threads=threads)


@click.command()
@click.option("--once", is_flag=True, help="One poll-and-post cycle, then exit.")
@click.option("-v", "--verbose", is_flag=True)
@one_line_errors
def poll(once: bool, verbose: bool) -> None:
    """Read new payment failures and post (or update) their alerts."""
    # the whole app only when it runs: start-up time
    from bot.app import build, require_slack

    configure_logging(verbose)
    current = settings()
    require_slack(current)
    settle = build(current)
    if once:
        # SIGTERM waits for the cycle: a post Slack accepted is recorded before the process exits.
        # The handler stays until the process exits: a SIGTERM just after the cycle is not fatal either.
        with _deferred_sigterm() as stop_requested:
            report = settle.poller.run_cycle()
            echo(report.summary())
            if report.delivery.failed and not stop_requested():
                sys.exit(1)
        return
    click.echo(f"polling every {current.poll_interval_seconds}s; Ctrl-C to stop", err=True)
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
