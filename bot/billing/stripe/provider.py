"""Stripe as the billing provider, through the official SDK's StripeClient at one pinned API version.

The change feed is Stripe's Events, read oldest first from a stored cursor. An event's payload is
shaped by the account's (or the webhook endpoint's) API version, not ours: only its type, ids and a
few version-stable fields are read from it; whatever else is needed is retrieved at the pinned
version. Money moves only in `pay_invoice`, with Settle's idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

import stripe

from bot.billing.base import (
    AccountInfo,
    BillingError,
    Card,
    ChangePage,
    ClosedAs,
    Invoice,
    InvoiceClosed,
    InvoiceStatus,
    MethodAdded,
    PaymentFailure,
    PaymentMethod,
    PaymentResult,
    ProviderUnavailable,
    Renewal,
)
from bot.observe.metrics import PROVIDER_ERRORS, PROVIDER_SECONDS

log = logging.getLogger(__name__)

# Every field below is read the way this version shapes it: an invoice's payments are the
# `payments` list of InvoicePayments (no `payment_intent`, `charge` or `paid` on the invoice).
STRIPE_API_VERSION = "2026-10-28.endive"

# What the poll asks for (and what a webhook endpoint should be sent).
EVENT_TYPES = (
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "payment_method.attached",
    "payment_method.detached",
    "customer.updated",
    "checkout.session.completed",
)
_FAILED = ("invoice.payment_failed", "invoice.payment_action_required")
_CLOSED: dict[str, ClosedAs] = {
    "invoice.paid": "paid",
    "invoice.voided": "voided",
    "invoice.marked_uncollectible": "uncollectible",
}
_STATUS: dict[str, InvoiceStatus] = {
    "open": "open",
    "paid": "paid",
    "void": "voided",
    "uncollectible": "uncollectible",
    "draft": "draft",
}
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
    "eftpos_au": "eftpos",
    "interac": "Interac",
}
# A customer.updated event matters only when one of these changed.
_ACCOUNT_FIELDS = {"name", "metadata", "currency"}
REQUIRES_ACTION_CODE = "invoice_payment_intent_requires_action"
ADD_CARD_LINK_TTL = 3600


def card_of(pm: dict[str, Any] | None) -> Card | None:
    card = (pm or {}).get("card") or {}
    if not card.get("last4"):
        return None
    brand = str(card.get("brand") or "")
    return Card(BRANDS.get(brand, brand.replace("_", " ").title() or "Card"), str(card["last4"]))


def _d(obj: Any) -> dict[str, Any]:
    """A StripeObject (or a webhook's parsed JSON) as plain dicts all the way down."""
    if obj is None:
        return {}
    if isinstance(obj, dict) and not hasattr(obj, "to_dict"):
        return obj
    return obj.to_dict()


def _at(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def _id(value: Any) -> str | None:
    """An expandable field: an id, or the object itself."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


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
    ) -> None:
        self._client = client
        self._public_base = public_base.rstrip("/")
        self._secret = link_secret.encode()
        self.first_window = first_window
        # which of these event ids Settle has recorded already (a webhook brought them): those are
        # skipped without asking Stripe anything more
        self._applied = applied or (lambda ids: set())

    # --- the change feed -------------------------------------------------------------------------

    def changes(self, cursor: str | None, limit: int = 100) -> ChangePage:
        """Events newer than the cursor, oldest first. The cursor is "evt_id:created"; when its event
        has expired (Stripe keeps 30 days) or on first start, reading restarts from a time."""
        if cursor:
            event_id, _, created = cursor.partition(":")
            try:
                with self._calling("events.list"):
                    page = self._client.v1.events.list(
                        {"ending_before": event_id, "limit": limit, "types": list(EVENT_TYPES)}
                    )
            except BillingError:
                # the cursor's event is gone: read again from its time (changes are idempotent)
                since = int(created) if created.isdigit() else int(time.time() - self.first_window.total_seconds())
                return self._oldest_since(since, cursor)
            # Stripe lists newest first; ending_before gives the `limit` events just after the cursor
            events = [_d(e) for e in reversed(page.data)]
        else:
            return self._oldest_since(int(time.time() - self.first_window.total_seconds()), None)
        if not events:
            return ChangePage(failures=[], cursor=cursor)
        return self._page(events)

    def _oldest_since(self, since: int, cursor: str | None) -> ChangePage:
        """The oldest event created at or after `since`: walk back from the newest. After it the
        feed goes on from that event with ending_before. Never further back than `since`, so a
        first start never alerts on ancient history."""
        params: dict[str, Any] = {"limit": 100, "created": {"gte": since}, "types": list(EVENT_TYPES)}
        oldest: dict[str, Any] | None = None
        while True:
            with self._calling("events.list"):
                page = self._client.v1.events.list(cast(Any, params))
            if not page.data:
                break
            oldest = _d(page.data[-1])
            if not page.has_more:
                break
            params["starting_after"] = oldest["id"]
        if oldest is None:
            return ChangePage(failures=[], cursor=cursor)
        return self._page([oldest])

    def _page(self, events: list[dict[str, Any]]) -> ChangePage:
        page = ChangePage(failures=[], cursor=f"{events[-1]['id']}:{events[-1].get('created', 0)}")
        done = self._applied([e["id"] for e in events])
        for event in events:
            if event["id"] not in done:
                self._translate(event, page)
        return page

    def event_changes(self, event: dict[str, Any]) -> ChangePage:
        """One event a webhook delivered, as changes (no cursor: the poll's cursor is its own)."""
        page = ChangePage(failures=[], cursor=None)
        if event["id"] not in self._applied([event["id"]]):
            self._translate(event, page)
        return page

    def _translate(self, event: dict[str, Any], page: ChangePage) -> None:
        page.event_ids.append(event["id"])
        kind = event.get("type")
        obj = (event.get("data") or {}).get("object") or {}
        at = _at(event.get("created")) or datetime.now(UTC)
        if kind in _FAILED and obj.get("id"):
            if obj.get("attempt_count") and f"{obj['id']}#{obj['attempt_count']}" in {f.id for f in page.failures}:
                return  # payment_failed and payment_action_required of one attempt: read once
            failure = self._failure(event, obj, at)
            if failure is not None:
                page.failures.append(failure)
        elif kind in _CLOSED and obj.get("id"):
            page.closed.append(InvoiceClosed(obj["id"], at, _CLOSED[kind]))
        elif kind == "customer.updated" and obj.get("id"):
            changed = (event.get("data") or {}).get("previous_attributes")
            # Stripe names what changed; without that list (another sender), read the customer again
            if not isinstance(changed, dict) or set(changed) & _ACCOUNT_FIELDS:
                info = self.get_account(obj["id"])
                if info is not None:
                    page.accounts.append(info)
        elif kind == "checkout.session.completed" and obj.get("mode") == "setup":
            ref = (obj.get("metadata") or {}).get("settle_ref")
            customer = _id(obj.get("customer"))
            if ref and customer:
                page.methods_added.append(MethodAdded(customer, ref, self._setup_method(_id(obj.get("setup_intent")))))

    def _failure(self, event: dict[str, Any], payload: dict[str, Any], at: datetime) -> PaymentFailure | None:
        """A failed (or verification-blocked) invoice payment, read at the pinned version."""
        with self._calling("invoices.retrieve"):
            invoice = _d(self._client.v1.invoices.retrieve(payload["id"], {"expand": ["payments"]}))
        customer = _id(invoice.get("customer"))
        if not customer or invoice.get("status") != "open":
            return None  # paid, voided or drafted since: its own event says so
        intent = self._latest_intent(invoice)
        error = intent.get("last_payment_error") or {}
        reason = error.get("decline_code") or error.get("code") or "generic_decline"
        requires_action = (
            event.get("type") == "invoice.payment_action_required" or intent.get("status") == "requires_action"
        )
        if requires_action and reason == "generic_decline":
            reason = "authentication_required"
        pm = error.get("payment_method") or {}
        if not pm and isinstance(intent.get("payment_method"), dict):
            pm = intent["payment_method"]
        # The attempt number as of the event (its payload keeps it whatever its version), so a late
        # read of attempt 1 is not taken for attempt 2; both events of one attempt are one failure.
        attempt = payload.get("attempt_count") or invoice.get("attempt_count") or 1
        return PaymentFailure(
            id=f"{invoice['id']}#{attempt}",
            account_id=customer,
            invoice_id=invoice["id"],
            amount_minor=int(invoice.get("amount_remaining") or invoice.get("amount_due") or 0),
            currency=str(invoice.get("currency") or "usd").upper(),
            outcome="requires_action" if requires_action else "declined",
            reason=str(reason),
            payment_method_id=_id(pm) or _id(intent.get("payment_method")),
            card=card_of(pm),
            at=at,
            attempt=int(attempt),
            next_attempt_at=_at(invoice.get("next_payment_attempt")),
            test_mode=not event.get("livemode", invoice.get("livemode", False)),
            message=error.get("message"),
        )

    def _latest_intent(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice's current PaymentIntent (the default InvoicePayment, else the newest)."""
        payments = (invoice.get("payments") or {}).get("data") or []
        chosen = next((p for p in payments if p.get("is_default")), None) or (
            max(payments, key=lambda p: p.get("created") or 0) if payments else None
        )
        intent_id = _id(((chosen or {}).get("payment") or {}).get("payment_intent"))
        if not intent_id:
            return {}
        with self._calling("payment_intents.retrieve"):
            return _d(self._client.v1.payment_intents.retrieve(intent_id, {"expand": ["payment_method"]}))

    def _setup_method(self, setup_intent_id: str | None) -> str | None:
        if not setup_intent_id:
            return None
        with self._calling("setup_intents.retrieve"):
            return _id(_d(self._client.v1.setup_intents.retrieve(setup_intent_id)).get("payment_method"))

    # --- accounts, cards, invoices ---------------------------------------------------------------

    def get_account(self, account_id: str) -> AccountInfo | None:
        """The customer's name, and the routing its metadata asks for (settle_channel, settle_admins,
        settle_team)."""
        customer = self._customer(account_id)
        if customer is None:
            return None
        meta = customer.get("metadata") or {}
        admins = tuple(a.strip() for a in str(meta.get("settle_admins") or "").split(",") if a.strip())
        return AccountInfo(
            id=account_id,
            name=customer.get("name") or customer.get("email") or account_id,
            currency=customer.get("currency"),
            channel=(str(meta.get("settle_channel") or "").strip() or None),
            team=(str(meta.get("settle_team") or "").strip() or None),
            admins=admins,
            locale=(customer.get("preferred_locales") or [None])[0],
        )

    def _customer(self, account_id: str) -> dict[str, Any] | None:
        try:
            with self._calling("customers.retrieve"):
                customer = _d(self._client.v1.customers.retrieve(account_id))
        except BillingError:
            return None
        return None if customer.get("deleted") else customer

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        customer = self._customer(account_id)
        if customer is None:
            return []
        default = _id((customer.get("invoice_settings") or {}).get("default_payment_method"))
        with self._calling("payment_methods.list"):
            listed = self._client.v1.payment_methods.list({"customer": account_id, "type": "card", "limit": 100})
        methods = [self._method(pm, is_default=pm["id"] == default) for pm in (_d(m) for m in listed.data)]
        return [m for m in methods if m is not None]

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        try:
            with self._calling("invoices.retrieve"):
                inv = _d(self._client.v1.invoices.retrieve(invoice_id))
        except BillingError:
            return None
        lines = ((inv.get("lines") or {}).get("data") or [{}])[0]
        return Invoice(
            id=inv["id"],
            account_id=_id(inv.get("customer")) or "",
            amount_minor=int(inv.get("amount_remaining") or inv.get("amount_due") or 0),
            currency=str(inv.get("currency") or "usd").upper(),
            description=str(inv.get("description") or lines.get("description") or inv.get("number") or ""),
            status=_STATUS.get(str(inv.get("status")), "open"),
            url=inv.get("hosted_invoice_url"),
        )

    def set_default_payment_method(self, account_id: str, payment_method_id: str) -> None:
        with self._calling("customers.update"):
            self._client.v1.customers.update(
                account_id, {"invoice_settings": {"default_payment_method": payment_method_id}}
            )

    def upcoming_renewals(self, before: datetime) -> list[Renewal]:
        """Active subscriptions renewing before `before`, with the card each will be charged to
        (the subscription's default, else the customer's invoice default). At this API version a
        subscription's period end is on its items. Pages of 100; run a few times a day."""
        renewals: list[Renewal] = []
        params: dict[str, Any] = {"status": "active", "limit": 100, "expand": ["data.default_payment_method"]}
        while True:
            with self._calling("subscriptions.list"):
                page = self._client.v1.subscriptions.list(cast(Any, params))
            for sub in (_d(x) for x in page.data):
                items = (sub.get("items") or {}).get("data") or []
                ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
                renews = _at(min(ends)) if ends else None
                if renews is None or renews >= before or sub.get("cancel_at_period_end"):
                    continue
                customer = _id(sub.get("customer")) or ""
                pm = sub.get("default_payment_method")
                if not isinstance(pm, dict):
                    pm = self._default_method(customer)
                amount = sum(
                    int((i.get("price") or {}).get("unit_amount") or 0) * int(i.get("quantity") or 1) for i in items
                )
                currency = str(sub.get("currency") or "usd").upper()
                renewals.append(Renewal(customer, renews, amount, currency, self._method(pm, is_default=True)))
            if not page.has_more or not page.data:
                return renewals
            params["starting_after"] = page.data[-1]["id"]

    def _default_method(self, customer_id: str) -> dict[str, Any] | None:
        customer = self._customer(customer_id)
        pm_id = _id(((customer or {}).get("invoice_settings") or {}).get("default_payment_method"))
        if not pm_id:
            return None
        with self._calling("payment_methods.retrieve"):
            return _d(self._client.v1.payment_methods.retrieve(pm_id))

    @staticmethod
    def _method(pm: dict[str, Any] | None, *, is_default: bool) -> PaymentMethod | None:
        card, info = card_of(pm), (pm or {}).get("card") or {}
        if pm is None or card is None:
            return None
        return PaymentMethod(
            id=pm["id"],
            card=card,
            exp_month=int(info.get("exp_month") or 1),
            exp_year=int(info.get("exp_year") or 1970),
            is_default=is_default,
        )

    # --- money ------------------------------------------------------------------------------------

    def pay_invoice(self, invoice_id: str, payment_method_id: str, *, idempotency_key: str) -> PaymentResult:
        """On-session (the admin acts for the customer), so the bank may ask for verification.

        A network error, a 429 or a 5xx that outlasts the SDK's retries raises ProviderUnavailable:
        the outcome is unknown, and the settlement is asked again later with the same key, which
        Stripe answers with the first request's result."""
        try:
            with self._calling("invoices.pay", card_errors=True):
                inv = _d(
                    self._client.v1.invoices.pay(
                        invoice_id,
                        {"payment_method": payment_method_id, "off_session": False, "expand": ["payments"]},
                        {"idempotency_key": idempotency_key},
                    )
                )
        except stripe.CardError as exc:
            return self._card_error(invoice_id, exc)
        except stripe.InvalidRequestError as exc:
            if exc.code == REQUIRES_ACTION_CODE:
                return self._card_error(invoice_id, exc)
            raise BillingError(_message(exc)) from None
        if inv.get("status") == "paid":
            intent = self._intent_id(inv)
            return PaymentResult("succeeded", None, intent or invoice_id)
        # not paid and no error: Stripe left the payment waiting (e.g. for the bank)
        return self._waiting(inv)

    def _card_error(self, invoice_id: str, exc: stripe.StripeError) -> PaymentResult:
        err = _d(exc.error) if exc.error is not None else {}
        intent = err.get("payment_intent") or {}
        intent_id = _id(intent) or ""
        if exc.code == REQUIRES_ACTION_CODE or intent.get("status") == "requires_action":
            inv = self._invoice_raw(invoice_id)
            return PaymentResult(
                "requires_action", "authentication_required", intent_id, verification_url=inv.get("hosted_invoice_url")
            )
        reason = err.get("decline_code") or exc.code or "card_declined"
        return PaymentResult("declined", str(reason), intent_id or invoice_id)

    def _waiting(self, inv: dict[str, Any]) -> PaymentResult:
        intent_id = self._intent_id(inv) or inv["id"]
        return PaymentResult(
            "requires_action", "authentication_required", intent_id, verification_url=inv.get("hosted_invoice_url")
        )

    def _invoice_raw(self, invoice_id: str) -> dict[str, Any]:
        with self._calling("invoices.retrieve"):
            return _d(self._client.v1.invoices.retrieve(invoice_id, {"expand": ["payments"]}))

    @staticmethod
    def _intent_id(inv: dict[str, Any]) -> str | None:
        payments = (inv.get("payments") or {}).get("data") or []
        for p in sorted(payments, key=lambda p: (not p.get("is_default"), -(p.get("created") or 0))):
            intent = _id((p.get("payment") or {}).get("payment_intent"))
            if intent:
                return intent
        return None

    def get_payment(self, payment_id: str) -> PaymentResult | None:
        """Where a payment stands (after the bank's page): Stripe's PaymentIntent status."""
        if not payment_id.startswith("pi_"):
            return None
        try:
            with self._calling("payment_intents.retrieve"):
                intent = _d(self._client.v1.payment_intents.retrieve(payment_id))
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

    # --- adding a card on Stripe's page -------------------------------------------------------------

    def add_method_url(self, account_id: str, ref: str) -> str | None:
        """A signed link to Settle, which opens a Checkout Session in setup mode when followed (so an
        unused modal costs no Stripe call, and a session never expires before it is used)."""
        expires = int(time.time()) + ADD_CARD_LINK_TTL
        query = {"account": account_id, "ref": ref, "exp": str(expires)}
        query["sig"] = self._sign(query)
        return f"{self._public_base}/stripe/add-card?{urlencode(query)}"

    def check_add_card_link(self, query: dict[str, str]) -> bool:
        sig = query.get("sig", "")
        fields = {k: query.get(k, "") for k in ("account", "ref", "exp")}
        if not fields["exp"].isdigit() or int(fields["exp"]) < time.time():
            return False
        return hmac.compare_digest(sig, self._sign(fields))

    def open_add_card_session(self, account_id: str, ref: str) -> str:
        """Stripe's hosted page to save a card for the customer; its completion names `ref`."""
        done = f"{self._public_base}/stripe/card-added"
        with self._calling("checkout.sessions.create"):
            session = _d(
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

    def _sign(self, fields: dict[str, str]) -> str:
        msg = "\n".join(f"{k}={fields[k]}" for k in ("account", "ref", "exp")).encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    # --- errors ------------------------------------------------------------------------------------

    @contextmanager
    def _calling(self, what: str, *, card_errors: bool = False) -> Iterator[None]:
        """Stripe's errors in Settle's words, each logged with Stripe's request id.

        Card errors pass through to the caller that reads them; a refused request (bad id, paid
        invoice) is a BillingError; an unreachable, rate-limited or failing Stripe (after the SDK's
        own retries) is ProviderUnavailable; a bad key is too, said plainly. Each call is timed."""
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
            raise BillingError(_message(exc)) from None
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


def _message(exc: stripe.StripeError) -> str:
    code = exc.code or "invalid_request"
    if code == "invoice_already_paid" or "already paid" in (exc.user_message or ""):
        return "invoice_already_paid"
    return f"Stripe refused the request ({code})"


def make_client(api_key: str, api_base: str | None, *, retries: int = 3) -> stripe.StripeClient:
    """The one StripeClient: pinned version, retries with backoff on connection errors, 409, 5xx and
    429. Every request is safe to repeat: a read, or a POST with an idempotency key (the SDK gives
    every POST one when it may retry; pay_invoice passes Settle's own)."""
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
