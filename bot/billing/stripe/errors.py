"""Stripe's errors in Settle's words, each logged with Stripe's request id, and each call timed."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from bot.domain.errors import BillingError, ProviderUnavailable
from bot.observe.metrics import PROVIDER_ERRORS, PROVIDER_SECONDS

log = logging.getLogger("bot.billing.stripe")

REQUIRES_ACTION_CODE = "invoice_payment_intent_requires_action"


@contextmanager
def calling(what: str, *, card_errors: bool = False) -> Iterator[None]:
    """Card errors pass through to the caller that reads them; a refused request (bad id, paid
    invoice) is a BillingError; an unreachable, rate-limited or failing Stripe (after the SDK's own
    retries) is ProviderUnavailable; a bad key is too, said plainly."""
    started = time.perf_counter()
    try:
        yield
    except stripe.CardError:
        if card_errors:
            raise
        raise BillingError("the card was declined") from None
    except stripe.InvalidRequestError as exc:
        if card_errors and exc.code == REQUIRES_ACTION_CODE:
            raise
        log.info("stripe %s refused (request %s): %s", what, exc.request_id, exc.code or exc.user_message)
        if card_errors:
            raise
        raise BillingError(refusal(exc)) from None
    except stripe.AuthenticationError as exc:
        log.error("stripe %s: the API key was refused (request %s)", what, exc.request_id)
        raise ProviderUnavailable("Stripe refused Settle's API key (STRIPE_API_KEY)", exc.request_id) from None
    except stripe.PermissionError as exc:
        log.error("stripe %s: the API key may not do this (request %s)", what, exc.request_id)
        raise ProviderUnavailable("Settle's Stripe key may not do this", exc.request_id) from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError, stripe.IdempotencyError) as exc:
        log.warning("stripe %s failed (request %s): %s", what, exc.request_id, type(exc).__name__)
        PROVIDER_ERRORS.labels("stripe", type(exc).__name__).inc()
        raise ProviderUnavailable("Stripe did not answer", exc.request_id) from None
    finally:
        PROVIDER_SECONDS.labels("stripe", what).observe(time.perf_counter() - started)


def refusal(exc: stripe.StripeError) -> str:
    code = exc.code or "invalid_request"
    if code == "invoice_already_paid" or "already paid" in (exc.user_message or ""):
        return "invoice_already_paid"
    return f"Stripe refused the request ({code})"
