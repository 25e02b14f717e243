"""What every command shares: settings read once with one-line errors, errors as one line on stderr,
output safe for a terminal. Light to import: `settle --help` and `--version` load nothing more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.cli.text import printable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.app import Settle
    from bot.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    # pydantic and the settings only when a command runs: start-up time
    from pydantic import ValidationError

    from bot.domain.errors import SettleError
    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err.get("loc"):
            raise SettleError(msg) from None
        raise SettleError(f"{err['loc'][0]}: {msg}") from None


def one_line_errors(fn: F) -> F:
    """Operator mistakes end as one line on stderr and exit 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # the error types only when a command runs: start-up time
        from bot.billing.sandbox.loader import LoadError
        from bot.domain.chat import SlackError
        from bot.domain.errors import BillingError, SettleError
        from storage.token_cipher import TokenKeyError

        try:
            return fn(*args, **kwargs)
        except (SettleError, LoadError, BillingError, TokenKeyError) as exc:
            raise click.ClickException(str(exc)) from None
        except SlackError as exc:
            raise click.ClickException(f"Slack refused the request: {exc.code}") from None

    return wrapper  # type: ignore[return-value]


def echo(text: str, **style: Any) -> None:
    click.secho(printable(text), **style)


def configure_logging(verbose: bool) -> None:
    # logging set-up only for the long-running commands: start-up time
    from bot.observe.logs import configure

    configure(verbose)


@contextmanager
def database() -> Iterator[sessionmaker[Session]]:
    """The database at DATABASE_URL, brought to the latest schema, and let go of afterwards."""
    # the database layer only when a command uses it: start-up time
    from bot.app import open_database

    engine, sessions = open_database(settings().database_url)
    try:
        yield sessions
    finally:
        engine.dispose()


@contextmanager
def process(current: Settings | None = None) -> Iterator[Settle]:
    """The whole process, built by the composition root, and closed afterwards."""
    # the whole app only when a command needs it: start-up time
    from bot.app import build

    settle = build(current or settings())
    try:
        yield settle
    finally:
        settle.close(wait=True)
