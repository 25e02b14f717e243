"""Adding a card on Stripe's page: a signed Settle link (so an unused modal costs no Stripe call) that
opens a Checkout Session in setup mode when followed."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

import stripe
from itsdangerous import BadData, URLSafeTimedSerializer

from bot.billing.stripe.convert import plain
from bot.billing.stripe.errors import calling
from bot.domain.errors import BillingError

ADD_CARD_LINK_TTL = 3600
CUSTOMER_LINK_TTL = 7 * 24 * 3600  # a link an admin sends the customer, who may not read it today


class AddCardLinks:
    def __init__(self, client: stripe.StripeClient, public_base: str, secret: str) -> None:
        self._client = client
        self._public_base = public_base.rstrip("/")
        self._signer = URLSafeTimedSerializer(secret, salt="settle-stripe-add-card")

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        query = {"account": account_id, "ref": ref, "sig": self._signer.dumps([account_id, ref])}
        return f"{self._public_base}/stripe/add-card?{urlencode(query)}"

    def customer_card_url(self, account_id: str, ref: str) -> str | None:
        query = {"account": account_id, "ref": ref, "sig": self._signer.dumps([account_id, ref, "customer"])}
        return f"{self._public_base}/stripe/add-card?{urlencode(query)}"

    def check_add_card_link(self, query: dict[str, str]) -> bool:
        """The link as Settle made it, for this account and form, within the hour (a customer's within
        the week: itsdangerous's timed signature); whatever the bytes, anything else is False."""
        sig = query.get("sig", "")
        if not (sig.isascii() and len(sig) <= 1024):
            return False
        try:
            signed = self._signer.loads(sig, max_age=CUSTOMER_LINK_TTL)
            age_ok = signed == [query.get("account", ""), query.get("ref", ""), "customer"]
            if not age_ok:
                signed = self._signer.loads(sig, max_age=ADD_CARD_LINK_TTL)
        except BadData:
            return False
        return bool(age_ok or signed == [query.get("account", ""), query.get("ref", "")])

    def open_add_card_session(self, account_id: str, ref: str) -> str:
        """Stripe's hosted page to save a card for the customer; its completion names `ref`."""
        done = f"{self._public_base}/stripe/card-added"
        with calling("checkout.sessions.create"):
            session = plain(
                self._client.v1.checkout.sessions.create(
                    cast(
                        Any,
                        {
                            "mode": "setup",
                            "customer": account_id,
                            "payment_method_types": ["card"],
                            "success_url": done,
                            "cancel_url": f"{done}?cancelled=1",
                            "metadata": {"settle_ref": ref},
                            "setup_intent_data": {"metadata": {"settle_ref": ref}},
                        },
                    )
                )
            )
        url = session.get("url")
        if not url:
            raise BillingError("Stripe did not return a page to add the card")
        return str(url)
