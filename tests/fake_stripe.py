"""A local, stateful server that answers like Stripe's API at version 2026-10-28.endive, for what
localstripe cannot stand in for (see ../shared/STRIPE-NOTES.md): `invoice.payment_failed` on a
declined renewal, card errors with decline codes, `hosted_invoice_url`, Checkout in setup mode,
idempotency replay, newest-first event lists with `ending_before`, and 429/5xx answers.

Each behaviour says which real Stripe behaviour it stands for (Stripe's API reference). Test cards
behave as Stripe's test mode (bot/billing/cards.py has the numbers). Point `STRIPE_API_BASE` at
`fake.url`; the test side drives it with plain methods (renew, complete_3ds, void, ...).
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.billing.sandbox.cards import classify
from bot.billing.sandbox.provider import charge_outcome

API_KEY = "sk_test_fake_settle"
# Stripe names brands by code in `card.brand`
BRAND_CODES = {
    "Visa": "visa",
    "Mastercard": "mastercard",
    "American Express": "amex",
    "Discover": "discover",
    "Diners Club": "diners",
    "JCB": "jcb",
    "UnionPay": "unionpay",
}
# `last_payment_error.code` for each test card's decline (Stripe: card_declined carries a decline_code;
# a few declines have a code of their own)
OWN_CODES = {"expired_card", "incorrect_cvc", "processing_error"}
MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "generic_decline": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    version: str | None
    idempotency_key: str | None


@dataclass
class Fault:
    path: str  # a regex searched in "METHOD /v1/path"
    status: int  # 429, 500, 503, or 0 to drop the connection unanswered
    times: int = 1
    after_acting: bool = False  # act on the request first, then answer the fault (a lost answer)


@dataclass
class FakeStripe:
    requests: list[Request] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    livemode: bool = False
    url: str = ""
    # Stripe renders an event at the account's (or the webhook endpoint's) API version: an account
    # still on 2024-06-20 by default (old invoice shape); the pinned version when set to it
    event_version: str = "2024-06-20"
    latency: float = 0.0  # seconds each answer takes (Stripe's own time), spent outside the lock
    max_per_second: int | None = None  # Stripe's rate limit: more requests in a second answer 429
    webhook_endpoints: list[dict[str, Any]] = field(default_factory=list)
    on_acted: Callable[[Request], None] | None = None  # runs after Stripe acted, before it answers

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._replays: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._server: _Server | None = None
        self.clock = int(time.time())
        self._window: list[float] = []  # when the requests of the last second arrived
        self.limited = 0  # requests answered 429 by the rate limit

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body go out as separate writes: without this, Nagle and the client's
                # delayed ACK add 40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_DELETE(self) -> None:
                fake._serve(self, "DELETE")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def calls(self, pattern: str = "") -> list[Request]:
        return [r for r in self.requests if re.search(pattern, f"{r.method} {r.path}")]

    # --- the test side: a Stripe account's life ------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def tick(self, seconds: int = 1) -> int:
        self.clock += seconds
        return self.clock

    def add_customer(
        self,
        name: str,
        *,
        channel: str | None = None,
        admins: str | None = None,
        currency: str = "eur",
        cus_id: str | None = None,
    ) -> str:
        with self._lock:
            cid = cus_id or self.new_id("cus")
            metadata = {}
            if channel:
                metadata["settle_channel"] = channel
            if admins:
                metadata["settle_admins"] = admins
            self.customers[cid] = {
                "id": cid,
                "object": "customer",
                "name": name,
                "email": f"billing@{cid}.example",
                "currency": currency,
                "metadata": metadata,
                "invoice_settings": {"default_payment_method": None},
                "livemode": self.livemode,
                "created": self.tick(),
            }
            return cid

    def add_card(self, customer: str, number: str, *, default: bool = False, exp: tuple[int, int] = (12, 2034)) -> str:
        with self._lock:
            brand, last4, behaviour = classify(number)
            if behaviour == "expired_card":
                exp = (1, 2020)
            pm_id = self.new_id("pm")
            self.methods[pm_id] = {
                "id": pm_id,
                "object": "payment_method",
                "type": "card",
                "customer": customer,
                "card": {
                    "brand": BRAND_CODES.get(brand, brand.lower()),
                    "last4": last4,
                    "exp_month": exp[0],
                    "exp_year": exp[1],
                },
                "created": self.tick(),
                "livemode": self.livemode,
                "_behaviour": behaviour,
            }
            if default:
                self.customers[customer]["invoice_settings"]["default_payment_method"] = pm_id
            self._event("payment_method.attached", self._public(self.methods[pm_id]))
            return pm_id

    def add_invoice(self, customer: str, amount: int, *, description: str = "Pro plan, monthly") -> str:
        """An open (finalized) subscription invoice, as a renewal creates it."""
        with self._lock:
            inv_id = self.new_id("in")
            self.invoices[inv_id] = {
                "id": inv_id,
                "object": "invoice",
                "customer": customer,
                "status": "open",
                "amount_due": amount,
                "amount_paid": 0,
                "amount_remaining": amount,
                "currency": self.customers[customer]["currency"],
                "description": None,
                "number": f"SETTLE-{len(self.invoices) + 1:04d}",
                "lines": {"object": "list", "data": [{"description": description, "amount": amount}]},
                "hosted_invoice_url": f"{self.url}/i/{inv_id}",
                "attempt_count": 0,
                "next_payment_attempt": None,
                "livemode": self.livemode,
                "created": self.tick(),
                "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
                "_payments": [],
            }
            return inv_id

    def add_subscription(self, customer: str, amount: int, renews_at: int, *, card: str | None = None) -> str:
        """An active subscription; at this API version its period end sits on its items."""
        with self._lock:
            sub_id = self.new_id("sub")
            self.subscriptions[sub_id] = {
                "id": sub_id,
                "object": "subscription",
                "customer": customer,
                "status": "active",
                "currency": self.customers[customer]["currency"],
                "cancel_at_period_end": False,
                "default_payment_method": card,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self.new_id("si"),
                            "price": {"unit_amount": amount},
                            "quantity": 1,
                            "current_period_end": renews_at,
                        }
                    ],
                },
            }
            return sub_id

    def renew(self, invoice_id: str) -> str:
        """Stripe's automatic collection: an off-session attempt with the customer's default card.
        A decline emits invoice.payment_failed; a card needing 3-D Secure leaves the PaymentIntent in
        requires_action and emits invoice.payment_failed and invoice.payment_action_required (the
        same attempt); success emits invoice.paid. Returns the outcome."""
        with self._lock:
            inv = self.invoices[invoice_id]
            pm_id = self.customers[inv["customer"]]["invoice_settings"]["default_payment_method"]
            inv["attempt_count"] += 1
            outcome, reason = charge_outcome(self.methods[pm_id]["_behaviour"], off_session=True)
            if outcome == "declined" and reason == "authentication_required":
                outcome = "requires_action"  # Stripe keeps an SCA renewal waiting for the customer
            intent = self._attempt(inv, pm_id, outcome, reason)
            if outcome == "succeeded":
                self._paid(inv)
                return outcome
            inv["next_payment_attempt"] = self.clock + 3 * 86400 if inv["attempt_count"] < 4 else None
            self._event("invoice.payment_failed", self._old_shape(inv, intent))
            if outcome == "requires_action":
                self._event("invoice.payment_action_required", self._old_shape(inv, intent))
            return outcome

    def complete_3ds(self, invoice_id: str, *, approve: bool = True) -> None:
        """The customer finishes (or fails) 3-D Secure on the hosted invoice page."""
        with self._lock:
            inv = self.invoices[invoice_id]
            intent = self.intents[inv["_payments"][-1]["payment"]["payment_intent"]]
            assert intent["status"] == "requires_action", intent["status"]
            if approve:
                intent.update(status="succeeded", last_payment_error=None, next_action=None)
                self._paid(inv)
            else:
                pm = self.methods[intent["payment_method"]]
                intent.update(
                    status="requires_payment_method",
                    next_action=None,
                    last_payment_error={
                        "type": "card_error",
                        "code": "payment_intent_authentication_failure",
                        "message": "The provided PaymentMethod has failed authentication.",
                        "payment_method": self._public(pm),
                    },
                )

    def void(self, invoice_id: str) -> None:
        with self._lock:
            self.invoices[invoice_id]["status"] = "void"
            self._event("invoice.voided", self._old_shape(self.invoices[invoice_id], None))

    def mark_uncollectible(self, invoice_id: str) -> None:
        with self._lock:
            self.invoices[invoice_id]["status"] = "uncollectible"
            self._event("invoice.marked_uncollectible", self._old_shape(self.invoices[invoice_id], None))

    def pay_outside(self, invoice_id: str) -> None:
        """Paid in Stripe's dashboard (or by the customer on the hosted page)."""
        with self._lock:
            inv = self.invoices[invoice_id]
            pm_id = self.customers[inv["customer"]]["invoice_settings"]["default_payment_method"]
            self._attempt(inv, pm_id, "succeeded", None)
            self._paid(inv)

    def update_customer(self, customer: str, **changes: Any) -> None:
        with self._lock:
            self._update_customer(customer, changes)

    def complete_checkout(self, session_id: str, number: str = "4242424242424242") -> str:
        """The admin saves a card on Checkout's page: a SetupIntent succeeds, the card is attached,
        checkout.session.completed names the session (with its metadata)."""
        with self._lock:
            session = self.sessions[session_id]
            pm_id = self.add_card(session["customer"], number)
            seti = self.new_id("seti")
            self.setup_intents[seti] = {
                "id": seti,
                "object": "setup_intent",
                "status": "succeeded",
                "customer": session["customer"],
                "payment_method": pm_id,
                "metadata": dict(session["metadata"]),
            }
            session.update(status="complete", setup_intent=seti)
            self._event("checkout.session.completed", dict(session))
            return pm_id

    def expire_events_before(self, event_id: str) -> None:
        """Stripe keeps events 30 days: older ones are gone, and a cursor naming one is refused."""
        with self._lock:
            index = next(i for i, e in enumerate(self.events) if e["id"] == event_id)
            del self.events[: index + 1]

    def fail(self, path: str, status: int, times: int = 1, *, after_acting: bool = False) -> None:
        with self._lock:
            self.faults.append(Fault(path, status, times, after_acting))

    # --- internals: Stripe's objects ----------------------------------------------------------------

    def _attempt(self, inv: dict[str, Any], pm_id: str, outcome: str, reason: str | None) -> dict[str, Any]:
        """The invoice's PaymentIntent for this attempt (Stripe reuses one per invoice while open)."""
        payments = inv["_payments"]
        intent = self.intents.get(payments[-1]["payment"]["payment_intent"]) if payments else None
        if intent is None or intent["status"] == "succeeded":
            pi_id = self.new_id("pi")
            intent = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": inv["amount_remaining"],
                "currency": inv["currency"],
                "customer": inv["customer"],
                "livemode": self.livemode,
            }
            self.intents[pi_id] = intent
            payments.append(
                {
                    "id": self.new_id("inpay"),
                    "object": "invoice_payment",
                    "invoice": inv["id"],
                    "is_default": True,
                    "status": "open",
                    "amount_requested": inv["amount_remaining"],
                    "payment": {"type": "payment_intent", "payment_intent": pi_id},
                    "created": self.tick(),
                }
            )
        pm = self._public(self.methods[pm_id])
        intent["payment_method"] = pm_id
        if outcome == "succeeded":
            intent.update(status="succeeded", last_payment_error=None, next_action=None)
        elif outcome == "requires_action":
            intent.update(
                status="requires_action",
                next_action={"type": "use_stripe_sdk"},
                last_payment_error={
                    "type": "card_error",
                    "code": "authentication_required",
                    "decline_code": "authentication_required",
                    "message": MESSAGES["authentication_required"],
                    "payment_method": pm,
                },
            )
        else:
            assert reason is not None
            intent.update(
                status="requires_payment_method",
                next_action=None,
                last_payment_error={
                    "type": "card_error",
                    "code": reason if reason in OWN_CODES else "card_declined",
                    "decline_code": None if reason in OWN_CODES else reason,
                    "message": MESSAGES.get(reason, "Your card was declined."),
                    "payment_method": pm,
                },
            )
        return intent

    def _paid(self, inv: dict[str, Any]) -> None:
        inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0, next_payment_attempt=None)
        inv["_payments"][-1]["status"] = "paid"
        self._event("invoice.paid", self._old_shape(inv, None))

    def _invoice(self, inv: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        """An invoice at the pinned version: no payment_intent/charge/paid; `payments` when expanded
        (Stripe: an includable list, absent unless expanded). Stripe expands nested paths too
        (up to four levels): `customer`, `payments.data.payment.payment_intent` and its
        `.payment_method` are the ones Settle asks for."""
        out = self._public(inv)
        if any(e == "payments" or e.startswith("payments.") for e in expand):
            data = sorted(self._public_list(inv["_payments"]), key=lambda p: -p["created"])
            if any(e.startswith("payments.data.payment.payment_intent") for e in expand):
                for payment in data:
                    intent = self._public(self.intents[payment["payment"]["payment_intent"]])
                    if "payments.data.payment.payment_intent.payment_method" in expand and intent.get("payment_method"):
                        intent["payment_method"] = self._public(self.methods[intent["payment_method"]])
                    payment["payment"]["payment_intent"] = intent
            out["payments"] = {"object": "list", "data": data, "has_more": False}
        if "customer" in expand:
            out["customer"] = self._public(self.customers[inv["customer"]])
        return out

    def _public_list(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._public(x) for x in items]

    def _old_shape(self, inv: dict[str, Any], intent: dict[str, Any] | None) -> dict[str, Any]:
        """An event payload is rendered at the account's API version, not Settle's: here an older
        one, with `payment_intent` and `paid` on the invoice and no `payments`, as Stripe does for an
        account still on 2024-06-20. Settle must read what it needs from retrieved objects. At the
        pinned version the payload is the invoice as a retrieval would give it (unexpanded)."""
        out = self._public(inv)
        if self.event_version != "2024-06-20":
            return out
        out["paid"] = inv["status"] == "paid"
        out["payment_intent"] = intent["id"] if intent else None
        return out

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps({k: v for k, v in obj.items() if not k.startswith("_")}))

    def _event(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "type": kind,
            "api_version": self.event_version,
            "created": self.tick(),
            "livemode": self.livemode,
            "data": data,
            "request": {"id": None, "idempotency_key": None},
        }
        self.events.append(event)
        return event

    def _update_customer(self, cid: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self.customers[cid]
        previous: dict[str, Any] = {}
        for key, value in params.items():
            if key in ("metadata", "invoice_settings"):
                previous[key] = dict(customer[key])
                customer[key] = {**customer[key], **{k: (v or None) for k, v in value.items()}}
                if key == "metadata":
                    customer[key] = {k: v for k, v in customer[key].items() if v}
            elif key in ("name", "email"):
                previous[key] = customer[key]
                customer[key] = value
        self._event("customer.updated", self._public(customer), previous)
        return self._public(customer)

    # --- HTTP ------------------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        params = _nested(parse_qsl(split.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True))
        key = handler.headers.get("Idempotency-Key")
        request = Request(method, split.path, params, handler.headers.get("Stripe-Version"), key)
        if self.latency:
            time.sleep(self.latency)  # Stripe's own time to answer: requests in flight overlap
        with self._lock:
            if self._over_limit():
                self.limited += 1
                return _send(handler, 429, _error("rate_limit_error", "Too many requests hit the API too quickly."))
            self.requests.append(request)
            fault = next((f for f in self.faults if f.times > 0 and re.search(f.path, f"{method} {split.path}")), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None and not fault.after_acting:
            return self._fault(handler, fault)
        if handler.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _send(handler, 401, _error("invalid_request_error", "Invalid API Key provided: sk_****"))
        with self._lock:
            # Stripe's idempotency: the same key replays the first answer; other params are refused
            if method == "POST" and key and key in self._replays:
                first_body, status, answer = self._replays[key]
                if first_body != body:
                    return _send(
                        handler,
                        400,
                        _error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            "first used with.",
                        ),
                    )
                return _send(handler, status, answer, replayed=True)
            try:
                status, answer = self._route(method, split.path, params)
            except _Refused as refused:
                status, answer = refused.status, refused.body
            except KeyError:
                status, answer = 404, _error("invalid_request_error", "No such object", code="resource_missing")
            if method == "POST" and key:
                self._replays[key] = (body, status, answer)
        if self.on_acted is not None:  # Stripe has acted; the caller has no answer yet
            self.on_acted(request)
        if fault is not None:
            return self._fault(handler, fault)
        _send(handler, status, answer)

    def _over_limit(self) -> bool:
        """Stripe's rate limit (100 a second live, 25 in test mode), as a sliding one-second window."""
        if self.max_per_second is None:
            return False
        now = time.monotonic()
        self._window = [t for t in self._window if now - t < 1.0]
        if len(self._window) >= self.max_per_second:
            return True
        self._window.append(now)
        return False

    def _fault(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.status == 0:  # the connection drops before any answer
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        kind = "rate_limit_error" if fault.status == 429 else "api_error"
        _send(
            handler,
            fault.status,
            _error(kind, "Too many requests" if fault.status == 429 else "Something went wrong on Stripe's end."),
        )

    def _route(self, method: str, path: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        expand = list(p.get("expand", []))
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        match method, parts:
            case "GET", ["events"]:
                return 200, self._list_events(p)
            case "GET", ["customers", cid]:
                return 200, self._public(self.customers[cid])
            case "POST", ["customers", cid]:
                return 200, self._update_customer(cid, p)
            case "GET", ["payment_methods"]:
                data = [self._public(m) for m in self.methods.values() if m["customer"] == p.get("customer")]
                return 200, {
                    "object": "list",
                    "data": list(reversed(data)),
                    "has_more": False,
                    "url": "/v1/payment_methods",
                }
            case "GET", ["invoices", iid]:
                return 200, self._invoice(self.invoices[iid], expand)
            case "POST", ["invoices", iid, "pay"] if str(p.get("paid_out_of_band")).lower() == "true":
                inv = self.invoices[iid]
                if inv["status"] != "open":
                    return 400, _error("invalid_request_error", f"Invoice is already {inv['status']}.")
                # Stripe: paid out of band, no charge and no payment; invoice.paid follows
                inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0, next_payment_attempt=None)
                inv["paid_out_of_band"] = True
                self._event("invoice.paid", self._old_shape(inv, None))
                return 200, self._invoice(inv, expand)
            case "POST", ["invoices", iid, "pay"]:
                return self._pay(self.invoices[iid], p, expand)
            case "POST", ["invoices", iid, "void"]:
                inv = self.invoices[iid]
                if inv["status"] != "open":
                    return 400, _error("invalid_request_error", f"You can only void an open invoice: {inv['status']}.")
                inv["status"] = "void"
                self._event("invoice.voided", self._old_shape(inv, None))
                return 200, self._invoice(inv, expand)
            case "POST", ["invoices", iid, "mark_uncollectible"]:
                inv = self.invoices[iid]
                if inv["status"] != "open":
                    return 400, _error("invalid_request_error", f"Invoice is {inv['status']}.")
                inv["status"] = "uncollectible"
                self._event("invoice.marked_uncollectible", self._old_shape(inv, None))
                return 200, self._invoice(inv, expand)
            case "GET", ["payment_intents", pid]:
                intent = self._public(self.intents[pid])
                if "payment_method" in expand and intent.get("payment_method"):
                    intent["payment_method"] = self._public(self.methods[intent["payment_method"]])
                return 200, intent
            case "POST", ["payment_intents", pid, "cancel"]:
                # Stripe: a PaymentIntent an invoice created cannot be cancelled directly
                return 400, _error(
                    "invalid_request_error",
                    "You cannot cancel this PaymentIntent because it was created by an invoice.",
                )
            case "POST", ["checkout", "sessions"]:
                return 200, self._checkout(p)
            case "GET", ["subscriptions"]:
                subs = [
                    dict(x)
                    for x in self.subscriptions.values()
                    if x["status"] == p.get("status", "active") and p.get("customer") in (None, x["customer"])
                ]
                for sub in subs:
                    pm = sub["default_payment_method"]
                    if pm and "data.default_payment_method" in expand:
                        sub["default_payment_method"] = self._public(self.methods[pm])
                after = p.get("starting_after")
                if after:
                    subs = subs[[x["id"] for x in subs].index(after) + 1 :]
                limit = int(p.get("limit", 10))
                return 200, {
                    "object": "list",
                    "data": subs[:limit],
                    "has_more": len(subs) > limit,
                    "url": "/v1/subscriptions",
                }
            case "POST", ["subscriptions", sub_id]:
                if sub_id not in self.subscriptions:
                    return 404, _error("invalid_request_error", f"No such subscription: '{sub_id}'")
                if "default_payment_method" in p:
                    self.subscriptions[sub_id]["default_payment_method"] = p["default_payment_method"] or None
                return 200, dict(self.subscriptions[sub_id])
            case "GET", ["payment_methods", pmid]:
                return 200, self._public(self.methods[pmid])
            case "GET", ["setup_intents", sid]:
                return 200, dict(self.setup_intents[sid])
            case "POST", ["webhook_endpoints"]:
                # Stripe: an endpoint renders its events at `api_version` (the account's when not
                # given); its signing secret is shown only in this answer
                endpoint = {
                    "id": self.new_id("we"),
                    "object": "webhook_endpoint",
                    "url": p.get("url"),
                    "api_version": p.get("api_version"),
                    "enabled_events": list(p.get("enabled_events") or []),
                    "status": "enabled",
                    "secret": "whsec_" + self.new_id("secret"),
                    "livemode": self.livemode,
                }
                self.webhook_endpoints.append(endpoint)
                return 200, dict(endpoint)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path})")

    def _list_events(self, p: dict[str, Any]) -> dict[str, Any]:
        """Newest first. starting_after pages towards older events, ending_before towards newer
        ones (the `limit` events just newer than the cursor). An unknown cursor is refused."""
        types = set(p.get("types") or [])
        gte = int((p.get("created") or {}).get("gte", 0))
        limit = int(p.get("limit", 10))
        newest_first = [e for e in reversed(self.events) if (not types or e["type"] in types) and e["created"] >= gte]
        cursor = p.get("starting_after") or p.get("ending_before")
        if cursor and not any(e["id"] == cursor for e in self.events):
            raise_missing = _error("invalid_request_error", f"No such event: '{cursor}'", code="resource_missing")
            raise _Refused(400, raise_missing)
        if p.get("starting_after"):
            older = list(itertools.dropwhile(lambda e: e["id"] != cursor, newest_first))[1:]
            if not any(e["id"] == cursor for e in newest_first):
                older = [e for e in newest_first if e["created"] < self._created(cursor)]
            page, more = older[:limit], len(older) > limit
        elif p.get("ending_before"):
            at = self._created(cursor)
            newer = [e for e in newest_first if (e["created"], e["id"]) > (at, cursor)]
            page, more = newer[-limit:], len(newer) > limit
        else:
            page, more = newest_first[:limit], len(newest_first) > limit
        return {"object": "list", "data": page, "has_more": more, "url": "/v1/events"}

    def _created(self, event_id: str) -> int:
        return next(e["created"] for e in self.events if e["id"] == event_id)

    def _pay(self, inv: dict[str, Any], p: dict[str, Any], expand: list[str]) -> tuple[int, dict[str, Any]]:
        """POST /v1/invoices/:id/pay. On-session (off_session=false) a 3-D Secure card leaves the
        PaymentIntent in requires_action and Stripe answers 402 invoice_payment_intent_requires_action;
        a decline answers 402 card_error with the decline code and the PaymentIntent."""
        if inv["status"] != "open":
            return 400, _error(
                "invalid_request_error",
                f"Invoice is already {inv['status']}.",
                code="invoice_not_editable" if inv["status"] != "paid" else None,
            )
        pm_id = p.get("payment_method") or self.customers[inv["customer"]]["invoice_settings"]["default_payment_method"]
        if pm_id not in self.methods or self.methods[pm_id]["customer"] != inv["customer"]:
            return 400, _error("invalid_request_error", f"No such PaymentMethod: '{pm_id}'", code="resource_missing")
        off_session = str(p.get("off_session", "true")).lower() == "true"
        inv["attempt_count"] += 1
        outcome, reason = charge_outcome(self.methods[pm_id]["_behaviour"], off_session=off_session)
        intent = self._attempt(inv, pm_id, outcome, reason)
        if outcome == "succeeded":
            self._paid(inv)
            return 200, self._invoice(inv, expand)
        if outcome == "requires_action":
            return 402, _error(
                "card_error",
                "This payment requires additional user action before it can be completed successfully.",
                code="invoice_payment_intent_requires_action",
                payment_intent=self._public(intent),
            )
        error = dict(intent["last_payment_error"])
        error.pop("payment_method", None)
        return 402, {"error": {**error, "payment_intent": self._public(intent)}}

    def _checkout(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("mode") != "setup" or p.get("customer") not in self.customers:
            raise _Refused(400, _error("invalid_request_error", "Missing required param: customer."))
        cs = self.new_id("cs_test")
        self.sessions[cs] = {
            "id": cs,
            "object": "checkout.session",
            "mode": "setup",
            "customer": p["customer"],
            "metadata": dict(p.get("metadata") or {}),
            "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"),
            "status": "open",
            "setup_intent": None,
            "url": f"https://checkout.stripe.com/c/pay/{cs}",
            "livemode": self.livemode,
        }
        return dict(self.sessions[cs])


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


def _error(kind: str, message: str, *, code: str | None = None, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "message": message, **extra}
    if code:
        err["code"] = code
    return {"error": err}


def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], *, replayed: bool = False) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Request-Id", f"req_{int(time.time() * 1e6) % 10**12:012d}")
    if replayed:
        handler.send_header("Idempotent-Replayed", "true")
    handler.end_headers()
    handler.wfile.write(data)


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding: a[b]=1, expand[0]=x, types[]=y → nested dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        head, *rest = re.findall(r"[^\[\]]+|\[\]", key) or [key]
        node: Any = out
        parts = [head, *rest]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_list = not last and (parts[i + 1].isdigit() or parts[i + 1] == "[]")
            if isinstance(node, list):
                if last:
                    node.append(value)
                    break
                if part == "[]" or part.isdigit():
                    continue
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt_is_list else {})
    return out
