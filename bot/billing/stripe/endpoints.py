"""The webhook endpoint Settle asks Stripe to send its events to: created at the pinned API version,
so every event it delivers is rendered the way Settle reads it and needs no second read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from bot.billing.stripe.client import STRIPE_API_VERSION
from bot.billing.stripe.convert import plain
from bot.billing.stripe.errors import calling
from bot.billing.stripe.feed import EVENT_TYPES


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    api_version: str
    secret: str  # STRIPE_WEBHOOK_SECRET: Stripe shows it only when the endpoint is created


def create_endpoint(client: stripe.StripeClient, url: str) -> Endpoint:
    with calling("webhook_endpoints.create"):
        params: Any = {
            "url": url,
            "api_version": STRIPE_API_VERSION,
            "enabled_events": list(EVENT_TYPES),
            "description": "Settle: declined renewals to Slack",
        }
        made = plain(client.v1.webhook_endpoints.create(params))
    return Endpoint(made["id"], made.get("url") or url, made.get("api_version") or "", made.get("secret") or "")
