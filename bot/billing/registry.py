"""Which billing providers this build has. Settings validation reads `available()`, so a name nobody
registered fails when the settings load, not later."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.billing.base import BillingProvider
from bot.domain.errors import SettleError
from storage.events import applied_events, recorded_failures
from storage.secrets import stored_secret


@dataclass(frozen=True)
class ProviderDeps:
    """What a provider is built from (the composition root reads it from the settings)."""

    name: str
    sessions: sessionmaker[Session]
    public_base: str
    link_secret: str | None = None  # SETTLE_LINK_SECRET; else one generated once and stored
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_first_start_days: float = 3
    stripe_max_per_second: float | None = None
    reads: Executor | None = None  # where a provider reads side by side (a page's invoices)


ProviderFactory = Callable[[ProviderDeps], BillingProvider]

_FACTORIES: dict[str, ProviderFactory] = {}


def register(name: str, factory: ProviderFactory) -> None:
    _FACTORIES[name] = factory


def available() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def make_provider(deps: ProviderDeps) -> BillingProvider:
    return _FACTORIES[deps.name](deps)


def _sandbox(deps: ProviderDeps) -> BillingProvider:
    # imported only when this provider is used: start-up time
    from bot.billing.sandbox.provider import SandboxProvider

    # The sandbox signs its page links with a key of its own: SETTLE_LINK_SECRET, or one generated
    # once and kept in the database. Never the Slack signing secret, never a constant.
    secret = deps.link_secret or stored_secret(deps.sessions, "sandbox_link_key")
    return SandboxProvider(deps.sessions, deps.public_base, secret=secret)


register("sandbox", _sandbox)


def _stripe(deps: ProviderDeps) -> BillingProvider:
    # the stripe SDK is imported only when Stripe is the provider: start-up time
    from bot.billing.stripe.client import make_client
    from bot.billing.stripe.provider import StripeProvider

    if not deps.stripe_api_key:
        raise SettleError(
            "STRIPE_API_KEY is not set (BILLING_PROVIDER=stripe needs the secret key, sk_live_… or sk_test_…)"
        )
    secret = deps.link_secret or stored_secret(deps.sessions, "stripe_link_key")
    return StripeProvider(
        make_client(deps.stripe_api_key, deps.stripe_api_base, per_second=deps.stripe_max_per_second),
        public_base=deps.public_base,
        link_secret=secret,
        first_window=timedelta(days=deps.stripe_first_start_days),
        applied=lambda ids: applied_events(deps.sessions, "stripe", ids),
        recorded=lambda ids: recorded_failures(deps.sessions, ids),
        pool=deps.reads,
    )


register("stripe", _stripe)
