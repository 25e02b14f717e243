"""The one StripeClient: the pinned API version, and the SDK's HTTP client taught to retry a 429 and
to stay under Stripe's rate limit on its own."""

from __future__ import annotations

import threading
import time
from typing import Any

import stripe

# Every field Settle reads is read the way this version shapes it: an invoice's payments are the
# `payments` list of InvoicePayments (no `payment_intent`, `charge` or `paid` on the invoice).
STRIPE_API_VERSION = "2026-10-28.endive"


# Stripe's documented limits are 100 requests a second in live mode and 25 in test mode; Settle keeps
# below them by default (STRIPE_MAX_REQUESTS_PER_SECOND sets another).
LIVE_PER_SECOND = 90.0
TEST_PER_SECOND = 20.0


def default_rate(api_key: str) -> float:
    return TEST_PER_SECOND if api_key.startswith(("sk_test_", "rk_test_")) else LIVE_PER_SECOND


class RateLimiter:
    """A token bucket shared by every thread of the process: `per_second` requests a second, bursts
    of at most a tenth of that, so no one-second window ever sees more than 1.1 x `per_second`. A
    429 empties it and halves the rate for a minute (another process on the same account is
    spending the same limit)."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._rate = per_second
        self._tokens = self._burst(per_second)
        self._at = time.monotonic()
        self._slow_until = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _burst(rate: float) -> float:
        return max(1.0, rate / 10)

    @property
    def rate(self) -> float:
        return self._rate

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                if now >= self._slow_until:
                    self._rate = self.per_second
                self._tokens = min(self._burst(self._rate), self._tokens + (now - self._at) * self._rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self._rate
            time.sleep(wait)

    def limited(self) -> None:
        with self._lock:
            self._tokens = 0.0
            self._rate = max(1.0, self.per_second / 2)
            self._slow_until = time.monotonic() + 60


def make_client(
    api_key: str,
    api_base: str | None,
    *,
    retries: int = 3,
    per_second: float | None = None,
    limiter: RateLimiter | None = None,
) -> stripe.StripeClient:
    """Retries with backoff on connection errors, 409, 5xx and 429. Every request is safe to repeat: a
    read, or a POST with an idempotency key (the SDK gives every POST one when it may retry;
    pay_invoice passes Settle's own)."""
    return stripe.StripeClient(
        api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base.rstrip("/")} if api_base else None,
        max_network_retries=retries,
        http_client=_rate_limit_retrying_client(limiter or RateLimiter(per_second or default_rate(api_key))),
    )


def _rate_limit_retrying_client(limiter: RateLimiter) -> stripe.HTTPClient:
    """The SDK's own HTTP client, which waits for the limiter before every attempt and also retries a
    429. Left alone it retries a 429 only when Stripe adds Stripe-Should-Retry: true, and rate-limit
    answers need not carry it. Its backoff (0.5 s doubling, jitter, Retry-After honoured) is kept."""
    base: type[Any] = type(stripe.new_default_http_client())

    class RateLimitRetrying(base):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            limiter.acquire()
            return super().request(*args, **kwargs)

        def _should_retry(
            self, response: Any, api_connection_error: Any, num_retries: int, max_network_retries: int | None
        ) -> bool:
            if response is not None and response[1] == 429:
                limiter.limited()
                if num_retries < (max_network_retries or 0):
                    return True
            return bool(super()._should_retry(response, api_connection_error, num_retries, max_network_retries))

    return RateLimitRetrying()
