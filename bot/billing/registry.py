"""Which billing providers this build has. Settings validation reads `available()`, so a name
nobody registered fails when the settings load, not later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from bot.billing.base import BillingProvider

if TYPE_CHECKING:
    from bot.settings import Settings


@dataclass(frozen=True)
class ProviderDeps:
    settings: Settings
    sessions: sessionmaker[Session]
    public_base: str


ProviderFactory = Callable[[ProviderDeps], BillingProvider]

_FACTORIES: dict[str, ProviderFactory] = {}


def register(name: str, factory: ProviderFactory) -> None:
    _FACTORIES[name] = factory


def available() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def make_provider(deps: ProviderDeps) -> BillingProvider:
    return _FACTORIES[deps.settings.billing_provider](deps)


def _sandbox(deps: ProviderDeps) -> BillingProvider:
    from bot.billing.sandbox import SandboxProvider
    from storage.secrets import stored_secret

    # The sandbox signs its page links with a key of its own: SETTLE_LINK_SECRET, or one generated
    # once and kept in the database. Never the Slack signing secret, never a constant.
    secret = deps.settings.link_secret or stored_secret(deps.sessions, "sandbox_link_key")
    return SandboxProvider(deps.sessions, deps.public_base, secret=secret)


register("sandbox", _sandbox)
