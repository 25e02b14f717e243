"""What Settle reads from Stripe outside the feed: customers, their cards, invoices, renewals."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import stripe

from bot.billing.stripe.convert import STATUS, at, id_of, method_of, plain
from bot.billing.stripe.errors import calling
from bot.domain.errors import BillingError
from bot.domain.records import AccountInfo, Invoice, PaymentMethod, Renewal


def account_info(customer: dict[str, Any]) -> AccountInfo:
    """A customer object (retrieved, expanded or an event's at the pinned version) as Settle keeps it."""
    meta = customer.get("metadata") or {}
    return AccountInfo(
        id=customer["id"],
        name=customer.get("name") or customer.get("email") or customer["id"],
        currency=customer.get("currency"),
        metadata={str(k): str(v) for k, v in meta.items() if v is not None},
        locale=(customer.get("preferred_locales") or [None])[0],
    )


def invoice_of(inv: dict[str, Any]) -> Invoice:
    lines = ((inv.get("lines") or {}).get("data") or [{}])[0]
    return Invoice(
        id=inv["id"],
        account_id=id_of(inv.get("customer")) or "",
        amount_minor=int(inv.get("amount_remaining") or inv.get("amount_due") or 0),
        currency=str(inv.get("currency") or "usd").upper(),
        description=str(inv.get("description") or lines.get("description") or inv.get("number") or ""),
        status=STATUS.get(str(inv.get("status")), "open"),
        url=inv.get("hosted_invoice_url"),
    )


class StripeReads:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def get_account(self, account_id: str) -> AccountInfo | None:
        """The customer's name, language and metadata (Settle's routing reads settle_channel,
        settle_admins and settle_team from it)."""
        customer = self.customer(account_id)
        return None if customer is None else account_info(customer)

    def customer(self, account_id: str) -> dict[str, Any] | None:
        try:
            with calling("customers.retrieve"):
                customer = plain(self._client.v1.customers.retrieve(account_id))
        except BillingError:
            return None
        return None if customer.get("deleted") else customer

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        customer = self.customer(account_id)
        if customer is None:
            return []
        default = id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))
        with calling("payment_methods.list"):
            listed = self._client.v1.payment_methods.list({"customer": account_id, "type": "card", "limit": 100})
        methods = [method_of(pm, is_default=pm["id"] == default) for pm in (plain(m) for m in listed.data)]
        return [m for m in methods if m is not None]

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        try:
            with calling("invoices.retrieve"):
                inv = plain(self._client.v1.invoices.retrieve(invoice_id))
        except BillingError:
            return None
        return invoice_of(inv)

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None:
        """The card renewals are charged to: the customer's invoice default, and the active
        subscriptions that name a card of their own (theirs comes first at renewal)."""
        with calling("customers.update"):
            self._client.v1.customers.update(
                account_id, {"invoice_settings": {"default_payment_method": payment_method_id}}
            )
        for sub in self._subscriptions(account_id):
            own = id_of(sub.get("default_payment_method"))
            if own and own != payment_method_id:
                with calling("subscriptions.update"):
                    self._client.v1.subscriptions.update(sub["id"], {"default_payment_method": payment_method_id})

    def renewal_methods(self, account_id: str) -> frozenset[str]:
        """The cards the customer's active subscriptions renew on (each its own, else the customer's
        default): two or three requests, made only when the customer's default changed."""
        subs = self._subscriptions(account_id)
        customer = self.customer(account_id) if any(not sub.get("default_payment_method") for sub in subs) else None
        default = id_of(((customer or {}).get("invoice_settings") or {}).get("default_payment_method"))
        return frozenset(m for m in (id_of(sub.get("default_payment_method")) or default for sub in subs) if m)

    def _subscriptions(self, account_id: str) -> list[dict[str, Any]]:
        with calling("subscriptions.list"):
            page = self._client.v1.subscriptions.list(
                cast(Any, {"customer": account_id, "status": "active", "limit": 100})
            )
        return [plain(x) for x in page.data]

    def upcoming_renewals(self, before: datetime) -> list[Renewal]:
        """Active subscriptions renewing before `before`, with the card each will be charged to
        (the subscription's default, else the customer's invoice default). At this API version a
        subscription's period end is on its items. Pages of 100; run a few times a day."""
        renewals: list[Renewal] = []
        params: dict[str, Any] = {"status": "active", "limit": 100, "expand": ["data.default_payment_method"]}
        while True:
            with calling("subscriptions.list"):
                page = self._client.v1.subscriptions.list(cast(Any, params))
            for sub in (plain(x) for x in page.data):
                items = (sub.get("items") or {}).get("data") or []
                ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
                renews = at(min(ends)) if ends else None
                if renews is None or renews >= before or sub.get("cancel_at_period_end"):
                    continue
                customer = id_of(sub.get("customer")) or ""
                pm = sub.get("default_payment_method")
                if not isinstance(pm, dict):
                    pm = self._default_method(customer)
                amount = sum(
                    int((i.get("price") or {}).get("unit_amount") or 0) * int(i.get("quantity") or 1) for i in items
                )
                currency = str(sub.get("currency") or "usd").upper()
                renewals.append(Renewal(customer, renews, amount, currency, method_of(pm, is_default=True)))
            if not page.has_more or not page.data:
                return renewals
            params["starting_after"] = page.data[-1]["id"]

    def _default_method(self, customer_id: str) -> dict[str, Any] | None:
        customer = self.customer(customer_id)
        pm_id = id_of(((customer or {}).get("invoice_settings") or {}).get("default_payment_method"))
        if not pm_id:
            return None
        with calling("payment_methods.retrieve"):
            return plain(self._client.v1.payment_methods.retrieve(pm_id))
