"""`settle stripe`: setting Stripe up for Settle."""

from __future__ import annotations

import click

from bot.cli.common import echo, one_line_errors, settings


@click.group()
def stripe() -> None:
    """Stripe, when it is the billing provider (BILLING_PROVIDER=stripe)."""


@stripe.command("webhook")
@click.argument("url", required=False)
@one_line_errors
def webhook(url: str | None) -> None:
    """Create the webhook endpoint Stripe sends Settle's events to, at the API version Settle reads
    (then each event costs no second read). URL defaults to PUBLIC_URL + /stripe/webhook. Prints
    the endpoint's signing secret once: set it as STRIPE_WEBHOOK_SECRET."""
    # the SDK only when it runs: start-up time
    from bot.billing.stripe.client import make_client
    from bot.billing.stripe.endpoints import create_endpoint
    from bot.domain.errors import SettleError

    current = settings()
    if not current.stripe_api_key:
        raise SettleError("STRIPE_API_KEY is not set (sk_live_… or sk_test_…)")
    target = url or current.public_base(3000).rstrip("/") + "/stripe/webhook"
    if not target.startswith("https://"):
        raise SettleError(f"{target}: Stripe sends webhooks only to https:// addresses")
    made = create_endpoint(make_client(current.stripe_api_key, current.stripe_api_base), target)
    echo(f"webhook endpoint {made.id}: {made.url}, events rendered at {made.api_version}")
    echo(f"STRIPE_WEBHOOK_SECRET={made.secret}")
