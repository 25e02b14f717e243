"""The one StripeClient: the pinned API version, and the SDK's HTTP client taught to retry a 429."""

from __future__ import annotations

from typing import Any

import stripe

# Every field Settle reads is read the way this version shapes it: an invoice's payments are the
# `payments` list of InvoicePayments (no `payment_intent`, `charge` or `paid` on the invoice).
STRIPE_API_VERSION = "2026-10-28.endive"


def make_client(api_key: str, api_base: str | None, *, retries: int = 3) -> stripe.StripeClient:
    """Retries with backoff on connection errors, 409, 5xx and 429. Every request is safe to repeat: a
    read, or a POST with an idempotency key (the SDK gives every POST one when it may retry;
    pay_invoice passes Settle's own)."""
    return stripe.StripeClient(
        api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base.rstrip("/")} if api_base else None,
        max_network_retries=retries,
        http_client=_rate_limit_retrying_client(),
    )


def _rate_limit_retrying_client() -> stripe.HTTPClient:
    """The SDK's own HTTP client, which also retries a 429. Left alone it retries a 429 only when
    Stripe adds Stripe-Should-Retry: true, and rate-limit answers need not carry it. Its backoff
    (0.5 s doubling, jitter, Retry-After honoured) is kept."""
    base: type[Any] = type(stripe.new_default_http_client())

    class RateLimitRetrying(base):
        def _should_retry(
            self, response: Any, api_connection_error: Any, num_retries: int, max_network_retries: int | None
        ) -> bool:
            if response is not None and response[1] == 429 and num_retries < (max_network_retries or 0):
                return True
            return bool(super()._should_retry(response, api_connection_error, num_retries, max_network_retries))

    return RateLimitRetrying()
