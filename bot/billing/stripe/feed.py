"""Stripe's change feed: its Events, read oldest first from a stored cursor, and each event turned into
Settle's changes. An event's payload is shaped by the account's (or the webhook endpoint's) API
version, not ours: an event rendered at the pinned version is used as it is; from any other only its
type, ids and a few version-stable fields are read, and the rest is retrieved at the pinned version.

Cost per declined renewal: one invoice retrieval, which brings its customer and its PaymentIntents
(with the declined card) by `expand`; none for an attempt Settle has recorded already. The
retrievals of a page run side by side, under the client's rate limiter."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import stripe

from bot.billing.stripe.client import STRIPE_API_VERSION
from bot.billing.stripe.convert import at, card_of, id_of, plain
from bot.billing.stripe.errors import calling
from bot.billing.stripe.reads import StripeReads, account_info, invoice_of
from bot.domain.errors import BillingError, ProviderUnavailable
from bot.domain.records import AccountInfo, ChangePage, ClosedAs, InvoiceClosed, MethodAdded, PaymentFailure

log = logging.getLogger(__name__)

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
# A customer.updated event matters only when one of these changed.
_ACCOUNT_FIELDS = {"name", "metadata", "currency", "preferred_locales", "invoice_settings"}
# One retrieval brings what a decline alert shows: the customer (name, routing) and the PaymentIntent
# of each payment, with its card (last_payment_error.payment_method is a full PaymentMethod anyway).
_INVOICE_EXPAND = ["customer", "payments", "payments.data.payment.payment_intent.payment_method"]


class EventFeed:
    def __init__(
        self,
        client: stripe.StripeClient,
        reads: StripeReads,
        *,
        first_window: timedelta,
        applied: Callable[[list[str]], set[str]],
        recorded: Callable[[list[str]], set[str]] | None = None,
        pool: Executor | None = None,
    ) -> None:
        self._client = client
        self._reads = reads
        self.first_window = first_window
        # which of these event ids Settle has recorded already (a webhook brought them): those are
        # skipped without asking Stripe anything more
        self._applied = applied
        # which of these failure ids ("in_…#attempt") Settle has recorded: the second event of one
        # attempt (payment_failed, then payment_action_required) costs no retrieval
        self._recorded = recorded or (lambda ids: set())
        self._pool = pool  # where a page's retrievals run side by side; inline without one
        # on renewal day the next pages are read while this one is recorded and delivered
        self._ahead = ReadAhead(pool, self._after)

    def changes(self, cursor: str | None, limit: int = 100) -> ChangePage:
        """Events newer than the cursor, oldest first. The cursor is "evt_id:created"; when its event
        has expired (Stripe keeps 30 days) or on first start, reading restarts from a time."""
        if not cursor:
            return self._oldest_since(int(time.time() - self.first_window.total_seconds()), None)
        ahead = self._ahead.take(cursor)
        read = ahead.result() if ahead is not None else None
        return read if read is not None else self._after(cursor, limit)

    def _after(self, cursor: str, limit: int) -> ChangePage:
        event_id, _, created = cursor.partition(":")
        try:
            with calling("events.list"):
                page = self._get("/v1/events", ending_before=event_id, limit=limit, types=list(EVENT_TYPES))
        except BillingError:
            # the cursor's event is gone: read again from its time (changes are idempotent)
            since = int(created) if created.isdigit() else int(time.time() - self.first_window.total_seconds())
            return self._oldest_since(since, cursor)
        # Stripe lists newest first; ending_before gives the `limit` events just after the cursor
        events = list(reversed(page.get("data") or []))
        if not events:
            return ChangePage(failures=[], cursor=cursor)
        if len(events) == limit:  # a full page: more are waiting, and the next page's list can go now
            self._ahead.listed(_cursor_of(events[-1]), limit)
        return self._page(events)

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        """A GET at the pinned version, its JSON as plain dicts: renewal day reads a thousand
        expanded invoices, and building StripeObjects only to turn them back into dicts was a
        tenth of Settle's CPU. Errors are raised as the SDK raises them (and mapped by `calling`)."""
        body = self._client.raw_request("get", path, **params).body
        found = json.loads(body)
        if not isinstance(found, dict):
            raise BillingError("Stripe's answer was not an object")
        return found

    def _oldest_since(self, since: int, cursor: str | None) -> ChangePage:
        """The oldest event created at or after `since`: walk back from the newest. After it the
        feed goes on from that event with ending_before. Never further back than `since`, so a
        first start never alerts on ancient history."""
        params: dict[str, Any] = {"limit": 100, "created": {"gte": since}, "types": list(EVENT_TYPES)}
        oldest: dict[str, Any] | None = None
        while True:
            with calling("events.list"):
                page = self._client.v1.events.list(cast(Any, params))
            if not page.data:
                break
            oldest = plain(page.data[-1])
            if not page.has_more:
                break
            params["starting_after"] = oldest["id"]
        if oldest is None:
            return ChangePage(failures=[], cursor=cursor)
        return self._page([oldest])

    def _page(self, events: list[dict[str, Any]]) -> ChangePage:
        page = ChangePage(failures=[], cursor=_cursor_of(events[-1]))
        done = self._applied([e["id"] for e in events])
        self._translate_all([e for e in events if e["id"] not in done], page)
        return page

    def event_changes(self, event: dict[str, Any]) -> ChangePage:
        """One event a webhook delivered, as changes (no cursor: the poll's cursor is its own)."""
        page = ChangePage(failures=[], cursor=None)
        if event["id"] not in self._applied([event["id"]]):
            self._translate_all([event], page)
        return page

    def _translate_all(self, events: list[dict[str, Any]], page: ChangePage) -> None:
        """The events as changes; the invoices of the declines among them read side by side."""
        failing: dict[str, tuple[dict[str, Any], dict[str, Any], datetime]] = {}
        for event in events:
            page.event_ids.append(event["id"])
            obj = (event.get("data") or {}).get("object") or {}
            if event.get("type") in _FAILED and obj.get("id"):
                # payment_failed and payment_action_required of one attempt: read once
                key = f"{obj['id']}#{obj['attempt_count']}" if obj.get("attempt_count") else event["id"]
                previous = failing.get(key)
                if previous is None or event.get("type") == "invoice.payment_action_required":
                    failing[key] = (event, obj, at(event.get("created")) or datetime.now(UTC))
            else:
                self._translate(event, obj, page)
        known = self._recorded([k for k in failing if "#" in k])
        jobs = [job for key, job in failing.items() if key not in known]
        accounts: dict[str, AccountInfo] = {}
        for found in self._side_by_side(jobs):
            if found is not None:
                failure, account = found
                page.failures.append(failure)
                if account is not None:
                    accounts[account.id] = account
        told = {a.id for a in page.accounts}  # a customer.updated in this page already said
        page.accounts.extend(a for a in accounts.values() if a.id not in told)

    def _side_by_side(
        self, jobs: list[tuple[dict[str, Any], dict[str, Any], datetime]]
    ) -> list[tuple[PaymentFailure, AccountInfo | None] | None]:
        if self._pool is None or len(jobs) < 2:
            return [self._failure(*job) for job in jobs]
        futures: list[Future[tuple[PaymentFailure, AccountInfo | None] | None] | None] = []
        for job in jobs:
            try:
                futures.append(self._pool.submit(self._failure, *job))
            except RuntimeError:  # the pool is full (or shutting down): read this one here
                futures.append(None)
        return [f.result() if f is not None else self._failure(*job) for f, job in zip(futures, jobs, strict=True)]

    def _translate(self, event: dict[str, Any], obj: dict[str, Any], page: ChangePage) -> None:
        kind = event.get("type")
        when = at(event.get("created")) or datetime.now(UTC)
        if kind in _CLOSED and obj.get("id"):
            page.closed.append(InvoiceClosed(obj["id"], when, _CLOSED[kind]))
        elif kind == "customer.updated" and obj.get("id"):
            changed = (event.get("data") or {}).get("previous_attributes")
            # Stripe names what changed; without that list (another sender), read the customer again
            if not isinstance(changed, dict) or set(changed) & _ACCOUNT_FIELDS:
                # at the pinned version the event's customer is the customer: no retrieval
                pinned = event.get("api_version") == STRIPE_API_VERSION and not obj.get("deleted")
                info = account_info(obj) if pinned else self._reads.get_account(obj["id"])
                if info is not None:
                    if _default_changed(changed, obj):  # which cards renew now: the subscriptions say
                        info = replace(info, renewal_methods=self._reads.renewal_methods(obj["id"]))
                    page.accounts.append(info)
        elif kind == "checkout.session.completed" and obj.get("mode") == "setup":
            ref = (obj.get("metadata") or {}).get("settle_ref")
            customer = id_of(obj.get("customer"))
            if ref and customer:
                method = self._setup_method(id_of(obj.get("setup_intent")))
                page.methods_added.append(MethodAdded(customer, ref, method))

    def _failure(
        self, event: dict[str, Any], payload: dict[str, Any], when: datetime
    ) -> tuple[PaymentFailure, AccountInfo | None] | None:
        """A failed (or verification-blocked) invoice payment, read at the pinned version in one
        request, and its customer as that request brought it."""
        with calling("invoices.retrieve"):
            invoice = self._get(f"/v1/invoices/{quote(payload['id'], safe='')}", expand=_INVOICE_EXPAND)
        customer = id_of(invoice.get("customer"))
        if not customer or invoice.get("status") != "open":
            return None  # paid, voided or drafted since: its own event says so
        expanded = invoice.get("customer")
        account = account_info(expanded) if isinstance(expanded, dict) and not expanded.get("deleted") else None
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
        failure = PaymentFailure(
            id=f"{invoice['id']}#{attempt}",
            account_id=customer,
            invoice_id=invoice["id"],
            amount_minor=int(invoice.get("amount_remaining") or invoice.get("amount_due") or 0),
            currency=str(invoice.get("currency") or "usd").upper(),
            outcome="requires_action" if requires_action else "declined",
            reason=str(reason),
            payment_method_id=id_of(pm) or id_of(intent.get("payment_method")),
            card=card_of(pm),
            at=when,
            attempt=int(attempt),
            next_attempt_at=at(invoice.get("next_payment_attempt")),
            test_mode=not event.get("livemode", invoice.get("livemode", False)),
            message=error.get("message"),
            invoice=invoice_of(invoice),
        )
        return failure, account

    def _latest_intent(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice's current PaymentIntent (the default InvoicePayment, else the newest)."""
        payments = (invoice.get("payments") or {}).get("data") or []
        chosen = next((p for p in payments if p.get("is_default")), None) or (
            max(payments, key=lambda p: p.get("created") or 0) if payments else None
        )
        intent = ((chosen or {}).get("payment") or {}).get("payment_intent")
        if isinstance(intent, dict):
            return intent  # expanded with the invoice
        intent_id = id_of(intent)
        if not intent_id:
            return {}
        with calling("payment_intents.retrieve"):
            return plain(self._client.v1.payment_intents.retrieve(intent_id, {"expand": ["payment_method"]}))

    def _setup_method(self, setup_intent_id: str | None) -> str | None:
        if not setup_intent_id:
            return None
        with calling("setup_intents.retrieve"):
            return id_of(plain(self._client.v1.setup_intents.retrieve(setup_intent_id)).get("payment_method"))


def _cursor_of(event: dict[str, Any]) -> str:
    return f"{event['id']}:{event.get('created', 0)}"


class ReadAhead:
    """The pages after a full page, read before the poll asks for them: their lists and retrievals
    queue behind the current page's on the reads pool, so the rate limiter never idles between
    pages and a page's recording overlaps the next one's reading. At most DEPTH pages ahead; pages
    nobody asked for within STALE seconds (the poll stopped, another replica moved the cursor) are
    dropped, and what they read is read again when asked (changes are idempotent)."""

    DEPTH = 2
    STALE = 30.0

    def __init__(self, pool: Executor | None, read: Callable[[str, int], ChangePage]) -> None:
        self._pool = pool
        self._read = read
        self._lock = threading.Lock()
        # cursor -> (the page after it, when it was started), in reading order
        self._pages: dict[str, tuple[Future[ChangePage | None], float]] = {}
        self._waiting: tuple[str, int] | None = None  # a page that may be read once there is room

    def listed(self, following: str, limit: int) -> None:
        """A full page ends at `following`: the page after it can be read now."""
        with self._lock:
            if not self._start(following, limit):
                self._waiting = (following, limit)

    def take(self, cursor: str) -> Future[ChangePage | None] | None:
        with self._lock:
            found = self._pages.pop(cursor, None)
            if found is None or time.monotonic() - found[1] > self.STALE:
                self._pages.clear()  # asked for another place in the feed: what was read ahead is moot
                self._waiting = None
                return None
            if self._waiting is not None and self._start(*self._waiting):
                self._waiting = None
            return found[0]

    def _start(self, cursor: str, limit: int) -> bool:
        if self._pool is None or len(self._pages) >= self.DEPTH:
            return False
        if cursor in self._pages:
            return True
        try:
            future = self._pool.submit(self._quietly, cursor, limit)
        except RuntimeError:  # the pool is full or shutting down: the poll reads it when it gets there
            return True  # not waiting either
        self._pages[cursor] = (future, time.monotonic())
        return True

    def _quietly(self, cursor: str, limit: int) -> ChangePage | None:
        """A page read ahead, or None when Stripe failed: the poll reads it again and meets the error."""
        try:
            return self._read(cursor, limit)
        except (BillingError, ProviderUnavailable) as exc:
            log.debug("reading ahead stopped: %s", exc)
            return None


def _default_changed(changed: Any, customer: dict[str, Any]) -> bool:
    """Whether a customer.updated moved the customer's default card."""
    if not isinstance(changed, dict) or not isinstance(changed.get("invoice_settings"), dict):
        return False
    if "default_payment_method" not in changed["invoice_settings"]:
        return False
    before = id_of(changed["invoice_settings"].get("default_payment_method"))
    return before != id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))
