"""Pick the configured billing provider."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.billing.base import BillingProvider
from bot.billing.sandbox import SandboxProvider
from bot.settings import Settings


class ProviderUnavailable(RuntimeError):
    pass


def make_provider(settings: Settings, sessions: sessionmaker[Session], public_base: str) -> BillingProvider:
    if settings.billing_provider == "sandbox":
        return SandboxProvider(sessions, public_base, secret=settings.slack_signing_secret or "settle-sandbox")
    raise ProviderUnavailable("BILLING_PROVIDER=stripe is not available in this version yet; use 'sandbox'")
