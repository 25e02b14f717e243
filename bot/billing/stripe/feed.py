"""Stripe's change feed: its Events, read oldest first from a stored cursor, and each event turned into
Settle's changes. An event's payload is shaped by the account's (or the webhook endpoint's) API
version, not ours: only its type, ids and a few version-stable fields are read from it; whatever else
is needed is retrieved at the pinned version."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import stripe

from bot.billing.stripe.convert import at, card_of, id_of, plain
from bot.billing.stripe.errors import calling
from bot.billing.stripe.reads import StripeReads
from bot.domain.errors import BillingError
from bot.domain.records import ChangePage, ClosedAs, InvoiceClosed, MethodAdded, PaymentFailure

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
_ACCOUNT_FIELDS = {"name", "metadata", "currency"}


class EventFeed:
    def __init__(
        self,
        client: stripe.StripeClient,
        reads: StripeReads,
        *,
        first_window: timedelta,
        applied: Callable[[list[str]], set[str]],
    ) -> None:
        self._client = client
        self._reads = reads
        self.first_window = first_window
        # which of these event ids Settle has recorded already (a webhook brought them): those are
        # skipped without asking Stripe anything more
        self._applied = applied

    def changes(self, cursor: str | None, limit: int = 100) -> ChangePage:
        """Events newer than the cursor, oldest first. The cursor is "evt_id:created"; when its event
        has expired (Stripe keeps 30 days) or on first start, reading restarts from a time."""
        if not cursor:
            return self._oldest_since(int(time.time() - self.first_window.total_seconds()), None)
        event_id, _, created = cursor.partition(":")
        try:
            with calling("events.list"):
                page = self._client.v1.events.list(
                    {"ending_before": event_id, "limit": limit, "types": list(EVENT_TYPES)}
                )
        except BillingError:
            # the cursor's event is gone: read again from its time (changes are idempotent)
            since = int(created) if created.isdigit() else int(time.time() - self.first_window.total_seconds())
            return self._oldest_since(since, cursor)
        # Stripe lists newest first; ending_before gives the `limit` events just after the cursor
        events = [plain(e) for e in reversed(page.data)]
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
        when = at(event.get("created")) or datetime.now(UTC)
        if kind in _FAILED and obj.get("id"):
            if obj.get("attempt_count") and f"{obj['id']}#{obj['attempt_count']}" in {f.id for f in page.failures}:
                return  # payment_failed and payment_action_required of one attempt: read once
            failure = self._failure(event, obj, when)
            if failure is not None:
                page.failures.append(failure)
        elif kind in _CLOSED and obj.get("id"):
            page.closed.append(InvoiceClosed(obj["id"], when, _CLOSED[kind]))
        elif kind == "customer.updated" and obj.get("id"):
            changed = (event.get("data") or {}).get("previous_attributes")
            # Stripe names what changed; without that list (another sender), read the customer again
            if not isinstance(changed, dict) or set(changed) & _ACCOUNT_FIELDS:
                info = self._reads.get_account(obj["id"])
                if info is not None:
                    page.accounts.append(info)
        elif kind == "checkout.session.completed" and obj.get("mode") == "setup":
            ref = (obj.get("metadata") or {}).get("settle_ref")
            customer = id_of(obj.get("customer"))
            if ref and customer:
                method = self._setup_method(id_of(obj.get("setup_intent")))
                page.methods_added.append(MethodAdded(customer, ref, method))

    def _failure(self, event: dict[str, Any], payload: dict[str, Any], when: datetime) -> PaymentFailure | None:
        """A failed (or verification-blocked) invoice payment, read at the pinned version."""
        with calling("invoices.retrieve"):
            invoice = plain(self._client.v1.invoices.retrieve(payload["id"], {"expand": ["payments"]}))
        customer = id_of(invoice.get("customer"))
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
            payment_method_id=id_of(pm) or id_of(intent.get("payment_method")),
            card=card_of(pm),
            at=when,
            attempt=int(attempt),
            next_attempt_at=at(invoice.get("next_payment_attempt")),
            test_mode=not event.get("livemode", invoice.get("livemode", False)),
            message=error.get("message"),
        )

    def _latest_intent(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice's current PaymentIntent (the default InvoicePayment, else the newest)."""
        payments = (invoice.get("payments") or {}).get("data") or []
        chosen = next((p for p in payments if p.get("is_default")), None) or (
            max(payments, key=lambda p: p.get("created") or 0) if payments else None
        )
        intent_id = id_of(((chosen or {}).get("payment") or {}).get("payment_intent"))
        if not intent_id:
            return {}
        with calling("payment_intents.retrieve"):
            return plain(self._client.v1.payment_intents.retrieve(intent_id, {"expand": ["payment_method"]}))

    def _setup_method(self, setup_intent_id: str | None) -> str | None:
        if not setup_intent_id:
            return None
        with calling("setup_intents.retrieve"):
            return id_of(plain(self._client.v1.setup_intents.retrieve(setup_intent_id)).get("payment_method"))
