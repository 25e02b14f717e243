"""Stripe as the billing provider, through the official SDK's StripeClient at one pinned API version:
the feed (feed.py), reads (reads.py), payments (payments.py) and the add-card link (links.py) behind
the one interface Settle talks to. Money moves only in `pay_invoice`, with Settle's idempotency key."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

import stripe

from bot.billing.stripe.feed import EventFeed
from bot.billing.stripe.links import AddCardLinks
from bot.billing.stripe.payments import StripePayments
from bot.billing.stripe.reads import StripeReads
from bot.domain.records import AccountInfo, ChangePage, ClosedAs, Invoice, PaymentMethod, PaymentResult, Renewal


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        public_base: str,
        link_secret: str,
        first_window: timedelta = timedelta(days=3),
        applied: Callable[[list[str]], set[str]] | None = None,
        recorded: Callable[[list[str]], set[str]] | None = None,
        pool: Executor | None = None,
    ) -> None:
        self.reads = StripeReads(client)
        self.payments = StripePayments(client)
        self.links = AddCardLinks(client, public_base, link_secret)
        self.feed = EventFeed(
            client,
            self.reads,
            first_window=first_window,
            applied=applied or (lambda ids: set()),
            recorded=recorded,
            pool=pool,
        )

    # --- the feed ---------------------------------------------------------------------------------

    def changes(self, cursor: str | None, limit: int = 100) -> ChangePage:
        return self.feed.changes(cursor, limit)

    def event_changes(self, event: dict[str, Any]) -> ChangePage:
        return self.feed.event_changes(event)

    # --- reads -------------------------------------------------------------------------------------

    def get_account(self, account_id: str) -> AccountInfo | None:
        return self.reads.get_account(account_id)

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        return self.reads.list_payment_methods(account_id)

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        return self.reads.get_invoice(invoice_id)

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None:
        self.reads.set_default_payment_method(account_id, payment_method_id)

    def upcoming_renewals(self, before: datetime) -> list[Renewal]:
        return self.reads.upcoming_renewals(before)

    # --- money -------------------------------------------------------------------------------------

    def end_invoice(self, invoice_id: str, how: ClosedAs, *, idempotency_key: str) -> None:
        self.payments.end_invoice(invoice_id, how, idempotency_key=idempotency_key)

    def pay_invoice(
        self, invoice_id: str, payment_method_id: str, *, idempotency_key: str, off_session: bool = False
    ) -> PaymentResult:
        return self.payments.pay_invoice(
            invoice_id, payment_method_id, idempotency_key=idempotency_key, off_session=off_session
        )

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        return self.payments.get_payment(payment_id)

    def cancel_payment(self, payment_id: str) -> PaymentResult | None:
        return self.payments.cancel_payment(payment_id)

    # --- adding a card -----------------------------------------------------------------------------

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        return self.links.add_method_url(account_id, ref)

    def customer_card_url(self, account_id: str, ref: str) -> str | None:
        return self.links.customer_card_url(account_id, ref)

    def check_add_card_link(self, query: dict[str, str]) -> bool:
        return self.links.check_add_card_link(query)

    def open_add_card_session(self, account_id: str, ref: str) -> str:
        return self.links.open_add_card_session(account_id, ref)
