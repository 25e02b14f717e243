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

    return SandboxProvider(
        deps.sessions, deps.public_base, secret=deps.settings.slack_signing_secret or "settle-sandbox"
    )


register("sandbox", _sandbox)
