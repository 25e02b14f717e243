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
    from bot.billing.sandbox.provider import SandboxProvider
    from storage.secrets import stored_secret

    # The sandbox signs its page links with a key of its own: SETTLE_LINK_SECRET, or one generated
    # once and kept in the database. Never the Slack signing secret, never a constant.
    secret = deps.settings.link_secret or stored_secret(deps.sessions, "sandbox_link_key")
    return SandboxProvider(deps.sessions, deps.public_base, secret=secret)


register("sandbox", _sandbox)


def _stripe(deps: ProviderDeps) -> BillingProvider:
    from datetime import timedelta

    from bot.billing.stripe.provider import StripeProvider, make_client
    from storage.events import applied_events
    from storage.secrets import stored_secret

    settings = deps.settings
    if not settings.stripe_api_key:
        from bot.domain.errors import SettleError

        raise SettleError(
            "STRIPE_API_KEY is not set (BILLING_PROVIDER=stripe needs the secret key, sk_live_… or sk_test_…)"
        )
    secret = settings.link_secret or stored_secret(deps.sessions, "stripe_link_key")
    return StripeProvider(
        make_client(settings.stripe_api_key, settings.stripe_api_base),
        public_base=deps.public_base,
        link_secret=secret,
        first_window=timedelta(days=settings.stripe_first_start_days),
        applied=lambda ids: applied_events(deps.sessions, "stripe", ids),
    )


register("stripe", _stripe)
