"""The Stripe provider on its own, against the Stripe-shaped local server: how it reads the feed,
maps Stripe's errors and declines, and pays."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine

from bot.billing.stripe.client import STRIPE_API_VERSION, RateLimiter, make_client
from bot.billing.stripe.links import ADD_CARD_LINK_TTL
from bot.billing.stripe.provider import StripeProvider
from bot.domain.errors import BillingError, ProviderUnavailable
from tests.fake_stripe import API_KEY, FakeStripe


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(stripe: FakeStripe) -> StripeProvider:
    return StripeProvider(
        make_client(API_KEY, stripe.url, retries=2), public_base="http://settle.test", link_secret="k" * 32
    )


def customer_with(stripe: FakeStripe, number: str) -> tuple[str, str]:
    cus = stripe.add_customer("Acme")
    stripe.add_card(cus, number, default=True)
    return cus, stripe.add_invoice(cus, 12900)


def read_all(provider: StripeProvider, limit: int = 100) -> tuple[list[str], str | None]:
    """Every failure's invoice, in feed order, reading from scratch the way the poller does."""
    cursor, seen = None, []
    while True:
        page = provider.changes(cursor, limit=limit)
        seen += [f.invoice_id for f in page.failures]
        if page.cursor is None or page.cursor == cursor:
            return seen, cursor
        cursor = page.cursor


@pytest.mark.parametrize(
    ("card", "reason", "brand"),
    [
        ("4000000000000002", "generic_decline", "Visa"),
        ("4000000000009995", "insufficient_funds", "Visa"),
        ("4000000000009987", "lost_card", "Visa"),
        ("4000000000009979", "stolen_card", "Visa"),
        ("4000000000000069", "expired_card", "Visa"),  # a code of its own, no decline_code
        ("4000000000000127", "incorrect_cvc", "Visa"),
        ("4000000000000119", "processing_error", "Visa"),
        ("4000002500003155", "authentication_required", "Visa"),
    ],
)
def test_each_decline_maps_to_its_reason_and_card(
    stripe: FakeStripe, provider: StripeProvider, card: str, reason: str, brand: str
) -> None:
    _, invoice = customer_with(stripe, card)
    stripe.renew(invoice)
    page = provider.changes(None)
    while not page.failures and page.cursor:
        page = provider.changes(page.cursor)
    (failure,) = page.failures
    assert failure.reason == reason and failure.card is not None and failure.card.brand == brand
    assert failure.card.last4 == card[-4:] and failure.amount_minor == 12900 and failure.currency == "EUR"
    assert failure.message  # the bank's own words
    assert failure.outcome == ("requires_action" if reason == "authentication_required" else "declined")


def test_the_feed_reads_oldest_first_in_pages_and_never_twice(stripe: FakeStripe, provider: StripeProvider) -> None:
    cus = stripe.add_customer("Acme")
    stripe.add_card(cus, "4000000000000002", default=True)
    invoices = [stripe.add_invoice(cus, 100 + i) for i in range(9)]
    for inv in invoices:
        stripe.renew(inv)

    seen, cursor = read_all(provider, limit=2)

    assert seen == invoices
    assert provider.changes(cursor, limit=2).failures == []
    stripe.renew(invoices[0])  # the next retry of the first invoice
    page = provider.changes(cursor)
    assert [f.id for f in page.failures] == [f"{invoices[0]}#2"]


def test_a_first_start_never_reads_before_its_window(stripe: FakeStripe) -> None:
    _, old = customer_with(stripe, "4000000000000002")
    stripe.renew(old)
    for event in stripe.events:
        event["created"] -= 2 * 86400
    _, new = customer_with(stripe, "4000000000000002")
    stripe.renew(new)
    one_day = StripeProvider(
        make_client(API_KEY, stripe.url), public_base="http://x", link_secret="k" * 32, first_window=timedelta(days=1)
    )
    assert read_all(one_day)[0] == [new]


def test_events_are_read_as_retrieved_objects_not_as_their_payload(
    stripe: FakeStripe, provider: StripeProvider
) -> None:
    """The payloads here are at an older API version (payment_intent on the invoice, no payments):
    the failure still names the card and reason, read from the objects at the pinned version."""
    _, invoice = customer_with(stripe, "4000000000009995")
    stripe.renew(invoice)
    event = next(e for e in stripe.events if e["type"] == "invoice.payment_failed")
    assert "payments" not in event["data"]["object"] and event["data"]["object"]["payment_intent"]

    (failure,) = provider.event_changes(event).failures

    assert failure.reason == "insufficient_funds" and failure.card and failure.card.last4 == "9995"
    # one request, at the pinned version: the invoice with its customer and its PaymentIntents
    (read,) = [r for r in stripe.requests if r.method == "GET"]
    assert read.path == f"/v1/invoices/{invoice}" and read.version == STRIPE_API_VERSION
    assert set(read.params["expand"]) >= {"customer", "payments.data.payment.payment_intent.payment_method"}
    assert failure.invoice is not None and failure.invoice.description == "Pro plan, monthly"


def test_a_renewal_day_costs_one_request_per_decline_read_side_by_side(stripe: FakeStripe) -> None:
    """40 renewals declined at once, some needing the bank (two events for one attempt): one invoice
    retrieval per decline, the customers come with them, and the retrievals overlap."""
    for i in range(40):
        cus = stripe.add_customer(f"Customer {i}", channel="C0RENEW")
        stripe.add_card(cus, "4000002500003155" if i % 4 == 0 else "4000000000009995", default=True)
        stripe.renew(stripe.add_invoice(cus, 12900))
    stripe.latency = 0.05
    with ThreadPoolExecutor(16) as pool:
        provider = StripeProvider(
            make_client(API_KEY, stripe.url), public_base="http://x", link_secret="k" * 32, pool=pool
        )
        before = len(stripe.requests)
        page = provider.changes("", limit=100)
        while page.cursor and len(page.failures) < 40:
            page = provider.changes(page.cursor, limit=100)
    retrievals = [r for r in stripe.requests[before:] if r.path.startswith("/v1/invoices/")]
    assert len(page.failures) == 40 and len(retrievals) == 40
    assert not [r for r in stripe.requests[before:] if r.path.startswith(("/v1/customers", "/v1/payment_intents"))]
    assert {a.name for a in page.accounts} == {f"Customer {i}" for i in range(40)}
    assert {a.metadata["settle_channel"] for a in page.accounts if a.metadata} == {"C0RENEW"}
    assert sum(f.outcome == "requires_action" for f in page.failures) == 10


def test_an_attempt_already_recorded_costs_no_request(stripe: FakeStripe) -> None:
    """The second event of one attempt, delivered by itself (a webhook), after the first was recorded."""
    _, invoice = customer_with(stripe, "4000002760003184")
    stripe.renew(invoice)
    recorded = {f"{invoice}#1"}
    provider = StripeProvider(
        make_client(API_KEY, stripe.url),
        public_base="http://x",
        link_secret="k" * 32,
        recorded=lambda ids: recorded & set(ids),
    )
    action = next(e for e in stripe.events if e["type"] == "invoice.payment_action_required")
    before = len(stripe.requests)
    page = provider.event_changes(action)
    assert page.failures == [] and page.event_ids == [action["id"]] and len(stripe.requests) == before


@pytest.mark.parametrize("pinned", [True, False])
def test_a_customer_update_at_the_pinned_version_is_read_from_the_event(
    stripe: FakeStripe, provider: StripeProvider, pinned: bool
) -> None:
    if pinned:
        stripe.event_version = STRIPE_API_VERSION
    cus = stripe.add_customer("Acme")
    stripe.update_customer(cus, name="Acme <!channel> Ltd", metadata={"settle_channel": "C0NEW"})
    event = stripe.events[-1]
    before = len(stripe.requests)
    (info,) = provider.event_changes(event).accounts
    assert info.name == "Acme <!channel> Ltd" and info.metadata == {"settle_channel": "C0NEW"}
    retrieved = [r for r in stripe.requests[before:] if r.path == f"/v1/customers/{cus}"]
    assert len(retrieved) == (0 if pinned else 1)  # another version's payload is not trusted


def test_the_client_keeps_under_stripes_rate_limit(stripe: FakeStripe) -> None:
    """Stripe's limit (here 10 a second) is never hit by one process: its limiter waits instead."""
    stripe.max_per_second = 10
    cus = stripe.add_customer("Acme")
    client = make_client(API_KEY, stripe.url, per_second=8)
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda _: client.v1.customers.retrieve(cus).name, range(16)))
    assert names == ["Acme"] * 16 and stripe.limited == 0


def test_a_429_is_retried_and_slows_the_client(stripe: FakeStripe) -> None:
    """Another process spends the same limit: the 429 is retried, and the limiter halves its rate."""
    cus = stripe.add_customer("Acme")
    limiter = RateLimiter(50)
    client = make_client(API_KEY, stripe.url, limiter=limiter)
    stripe.fail(f"GET /v1/customers/{cus}", 429)
    assert client.v1.customers.retrieve(cus).name == "Acme"
    assert len(stripe.calls(f"GET /v1/customers/{cus}")) == 2 and limiter.rate == 25


def test_a_failure_read_after_the_invoice_was_paid_is_no_failure(stripe: FakeStripe, provider: StripeProvider) -> None:
    _, invoice = customer_with(stripe, "4000000000009995")
    stripe.renew(invoice)
    stripe.pay_outside(invoice)
    page = provider.changes(None)
    seen, closed = [], []
    cursor = None
    while True:
        page = provider.changes(cursor)
        seen += page.failures
        closed += page.closed
        if page.cursor in (None, cursor):
            break
        cursor = page.cursor
    assert seen == [] and [(c.invoice_id, c.state) for c in closed] == [(invoice, "paid")]


def test_paying_is_on_session_with_settles_key_and_replays(stripe: FakeStripe, provider: StripeProvider) -> None:
    cus, invoice = customer_with(stripe, "4000000000009995")
    visa = stripe.add_card(cus, "4242424242424242")

    first = provider.pay_invoice(invoice, visa, idempotency_key="settle-1")
    again = provider.pay_invoice(invoice, visa, idempotency_key="settle-1")

    assert first.outcome == again.outcome == "succeeded" and first.payment_id == again.payment_id
    assert stripe.invoices[invoice]["attempt_count"] == 1  # one charge
    assert [r.params["off_session"] for r in stripe.calls("/pay$")] == ["false", "false"]


def test_a_paid_invoice_is_refused_as_already_paid(stripe: FakeStripe, provider: StripeProvider) -> None:
    cus, invoice = customer_with(stripe, "4242424242424242")
    stripe.renew(invoice)
    # the settlement service records this reason as "paid meanwhile", never as a decline
    with pytest.raises(BillingError, match=r"^invoice_already_paid$"):
        provider.pay_invoice(invoice, stripe.add_card(cus, "4242424242424242"), idempotency_key="k")


def test_a_card_of_another_customer_is_refused(stripe: FakeStripe, provider: StripeProvider) -> None:
    _, invoice = customer_with(stripe, "4000000000009995")
    other, _ = customer_with(stripe, "4242424242424242")
    foreign = stripe.add_card(other, "4242424242424242")
    with pytest.raises(BillingError, match="resource_missing"):
        provider.pay_invoice(invoice, foreign, idempotency_key="k")


def test_a_dropped_connection_is_retried_with_the_same_key(stripe: FakeStripe, provider: StripeProvider) -> None:
    cus, invoice = customer_with(stripe, "4000000000009995")
    visa = stripe.add_card(cus, "4242424242424242")
    stripe.fail("/pay$", 0, after_acting=True)  # Stripe charged, then the connection dropped
    result = provider.pay_invoice(invoice, visa, idempotency_key="settle-2")
    assert result.outcome == "succeeded" and stripe.invoices[invoice]["attempt_count"] == 1
    assert {r.idempotency_key for r in stripe.calls("/pay$")} == {"settle-2"}


def test_stripe_down_is_unavailable_never_declined(stripe: FakeStripe, provider: StripeProvider) -> None:
    cus, invoice = customer_with(stripe, "4000000000009995")
    visa = stripe.add_card(cus, "4242424242424242")
    stripe.fail("/pay$", 503, times=5)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.pay_invoice(invoice, visa, idempotency_key="settle-3")
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert len(stripe.calls("/pay$")) == 3  # the first try and two retries


def test_get_and_cancel_payment_follow_the_payment_intent(stripe: FakeStripe, provider: StripeProvider) -> None:
    cus, invoice = customer_with(stripe, "4000000000009995")
    three_ds = stripe.add_card(cus, "4000002760003184")
    waiting = provider.pay_invoice(invoice, three_ds, idempotency_key="k")
    assert (
        waiting.outcome == "requires_action"
        and waiting.verification_url == stripe.invoices[invoice]["hosted_invoice_url"]
    )
    assert provider.get_payment(waiting.payment_id).outcome == "requires_action"  # type: ignore[union-attr]
    assert provider.cancel_payment(waiting.payment_id).outcome == "requires_action"  # type: ignore[union-attr]
    assert not stripe.calls("cancel")  # Stripe refuses to cancel an invoice's PaymentIntent; never asked
    stripe.complete_3ds(invoice, approve=False)
    failed = provider.get_payment(waiting.payment_id)
    assert failed is not None and (failed.outcome, failed.reason) == (
        "declined",
        "payment_intent_authentication_failure",
    )
    assert provider.get_payment("in_not_a_payment") is None


def test_add_card_links_are_signed_and_expire(provider: StripeProvider) -> None:
    from urllib.parse import parse_qsl, urlsplit

    link = provider.add_method_url("cus_1", "1:V1:U1")
    assert link is not None
    query = dict(parse_qsl(urlsplit(link).query))
    assert provider.check_add_card_link(query)
    assert not provider.check_add_card_link({**query, "account": "cus_2"})
    assert not provider.check_add_card_link({**query, "ref": "1:V1:U2"})
    assert not provider.check_add_card_link({**query, "sig": query["sig"][:-2] + "xx"})
    with time_machine.travel(time.time() + ADD_CARD_LINK_TTL + 5):  # an hour on: expired
        assert not provider.check_add_card_link(query)
    assert not provider.check_add_card_link({k: v for k, v in query.items() if k != "sig"})
