"""Where money moves at Stripe: paying an invoice with Settle's idempotency key, and asking how a
payment stands after the bank's page."""

from __future__ import annotations

from typing import Any, cast

import stripe

from bot.billing.stripe.convert import id_of, plain
from bot.billing.stripe.errors import REQUIRES_ACTION_CODE, calling, refusal
from bot.domain.errors import BillingError
from bot.domain.records import ClosedAs, PaymentResult


class StripePayments:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def end_invoice(self, invoice_id: str, how: ClosedAs, *, idempotency_key: str) -> None:
        """Paid another way: `invoices.pay` with `paid_out_of_band` (no card is charged); voided:
        `invoices.void_invoice`; written off: `invoices.mark_uncollectible`. An invoice already in
        that state by another hand is a refusal (a retry of Settle's own call replays its first answer:
        the same idempotency key)."""
        options: Any = {"idempotency_key": idempotency_key}
        if how == "paid":
            with calling("invoices.pay"):
                self._client.v1.invoices.pay(invoice_id, cast(Any, {"paid_out_of_band": True}), options)
        elif how == "voided":
            with calling("invoices.void_invoice"):
                self._client.v1.invoices.void_invoice(invoice_id, None, options)
        else:
            with calling("invoices.mark_uncollectible"):
                self._client.v1.invoices.mark_uncollectible(invoice_id, None, options)

    def pay_invoice(
        self, invoice_id: str, payment_method_id: str, *, idempotency_key: str, off_session: bool = False
    ) -> PaymentResult:
        """On-session (the admin acts for the customer), so the bank may ask for verification; or
        off-session (a scheduled retry), when a bank that wants verification declines instead.

        A network error, a 429 or a 5xx that outlasts the SDK's retries raises ProviderUnavailable:
        the outcome is unknown, and the settlement is asked again later with the same key, which
        Stripe answers with the first request's result."""
        try:
            with calling("invoices.pay", card_errors=True):
                inv = plain(
                    self._client.v1.invoices.pay(
                        invoice_id,
                        {"payment_method": payment_method_id, "off_session": off_session, "expand": ["payments"]},
                        {"idempotency_key": idempotency_key},
                    )
                )
        except stripe.CardError as exc:
            return self._card_error(invoice_id, exc)
        except stripe.InvalidRequestError as exc:
            if exc.code == REQUIRES_ACTION_CODE:
                return self._card_error(invoice_id, exc)
            raise BillingError(refusal(exc)) from None
        if inv.get("status") == "paid":
            intent = intent_id(inv)
            return PaymentResult("succeeded", None, intent or invoice_id)
        # not paid and no error: Stripe left the payment waiting (e.g. for the bank)
        return PaymentResult(
            "requires_action",
            "authentication_required",
            intent_id(inv) or inv["id"],
            verification_url=inv.get("hosted_invoice_url"),
        )

    def _card_error(self, invoice_id: str, exc: stripe.StripeError) -> PaymentResult:
        err = plain(exc.error) if exc.error is not None else {}
        intent = err.get("payment_intent") or {}
        intent_ref = id_of(intent) or ""
        if exc.code == REQUIRES_ACTION_CODE or intent.get("status") == "requires_action":
            with calling("invoices.retrieve"):
                inv = plain(self._client.v1.invoices.retrieve(invoice_id, {"expand": ["payments"]}))
            return PaymentResult(
                "requires_action", "authentication_required", intent_ref, verification_url=inv.get("hosted_invoice_url")
            )
        reason = err.get("decline_code") or exc.code or "card_declined"
        return PaymentResult("declined", str(reason), intent_ref or invoice_id)

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        """Where a payment stands (after the bank's page): Stripe's PaymentIntent status."""
        if not payment_id.startswith("pi_"):
            return None
        try:
            with calling("payment_intents.retrieve"):
                intent = plain(self._client.v1.payment_intents.retrieve(payment_id))
        except BillingError:
            return None
        status = intent.get("status")
        if status == "succeeded":
            return PaymentResult("succeeded", None, payment_id)
        if status in ("requires_action", "processing", "requires_confirmation"):
            return PaymentResult("requires_action", "authentication_required", payment_id)
        error = intent.get("last_payment_error") or {}
        reason = error.get("decline_code") or error.get("code") or "authentication_failed"
        return PaymentResult("declined", str(reason), payment_id)

    def cancel_payment(self, payment_id: str) -> PaymentResult | None:
        """Stripe refuses to cancel an invoice's PaymentIntent, and needs not: an invoice is paid at
        most once, so a verification finished late cannot pay it twice. Report where it stands."""
        return self.get_payment(payment_id)


def intent_id(inv: dict[str, Any]) -> str | None:
    """The invoice's current PaymentIntent: its default InvoicePayment's, else the newest."""
    payments = (inv.get("payments") or {}).get("data") or []
    for p in sorted(payments, key=lambda p: (not p.get("is_default"), -(p.get("created") or 0))):
        intent = id_of((p.get("payment") or {}).get("payment_intent"))
        if intent:
            return intent
    return None
