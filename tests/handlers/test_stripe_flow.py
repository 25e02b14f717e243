"""The Stripe twins of the end-to-end scenarios: BILLING_PROVIDER=stripe against a Stripe-shaped local
server (tests/fake_stripe.py), signed requests to the real Slack endpoint, Stripe-signed webhooks to
/stripe/webhook, the fake Slack and a real database."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.billing.stripe.client import STRIPE_API_VERSION
from storage.db import transaction
from storage.models import Alert, Decline, PollCursor
from tests.conftest import STRIPE_WEBHOOK_SECRET
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import post

ADMIN = "U0ADMIN"
STRANGER = "U0STRANGER"


class Acme:
    """A Stripe customer whose renewal was declined: its ids at the fake Stripe."""

    def __init__(self, stripe: FakeStripe, default: str = "4000000000009995") -> None:
        self.customer = stripe.add_customer("Acme Corp", channel="C0ACME", admins=ADMIN)
        self.declined = stripe.add_card(self.customer, default, default=True)
        self.visa = stripe.add_card(self.customer, "4242424242424242")
        self.mastercard = stripe.add_card(self.customer, "5555555555554444")
        self.three_ds = stripe.add_card(self.customer, "4000002760003184")
        self.invoice = stripe.add_invoice(self.customer, 12900)


@pytest.fixture
def h(stripe_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


@pytest.fixture
def h1(stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def declined(h: Harness, stripe: FakeStripe, **kw: Any) -> Acme:
    acme = Acme(stripe, **kw)
    stripe.renew(acme.invoice)
    h.services.poller.run_cycle()
    return acme


def alerts(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel) if (m.get("metadata") or {}).get("event_type") == "settle_alert"]


def webhook(h: Harness, event: dict[str, Any], *, secret: str = STRIPE_WEBHOOK_SECRET) -> tuple[int, str]:
    """POST an event to /stripe/webhook signed as Stripe signs (t=…,v1=HMAC-SHA256 of "t.payload")."""
    payload = json.dumps(event)
    t = int(time.time())
    sig = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return post(
        h.base + "/stripe/webhook", payload, {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={sig}"}
    )


def last_event(stripe: FakeStripe, kind: str) -> dict[str, Any]:
    return next(e for e in reversed(stripe.events) if e["type"] == kind)


def pay_requests(stripe: FakeStripe) -> list[Any]:
    return stripe.calls(r"POST /v1/invoices/.*/pay")


# --- alert exactly once --------------------------------------------------------------------------


def test_a_declined_renewal_is_one_alert_in_the_mapped_channel(h: Harness, fake_stripe: FakeStripe) -> None:
    acme = declined(h, fake_stripe)
    h.services.poller.run_cycle()  # again: nothing new
    assert webhook(h, last_event(fake_stripe, "invoice.payment_failed"))[0] == 200  # and the same event pushed
    time.sleep(0.3)
    h.services.poller.run_cycle()

    (msg,) = alerts(h.fake, "C0ACME")  # the channel from the customer's metadata
    text, blocks = msg["text"], json.dumps(msg["blocks"], ensure_ascii=False)
    assert text.startswith("[Test mode] Payment declined: Acme Corp owes €129.00 on Visa ·· 9995.")
    assert "insufficient funds" in blocks and "The bank said:* “Your card has insufficient funds.”" in blocks
    assert "(attempt 1)" in blocks and "next automatic retry" in blocks and "test mode" in blocks
    with transaction(h.services.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Decline)) == 1
        alert = s.scalars(select(Alert)).one()
        assert alert.account_id == acme.customer
    # every request Settle made asked for the pinned API version
    assert {r.version for r in fake_stripe.requests} == {STRIPE_API_VERSION}


def test_a_3ds_renewal_sends_two_events_and_is_one_decline(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = Acme(fake_stripe, default="4000002760003184")
    assert fake_stripe.renew(acme.invoice) == "requires_action"
    h.services.poller.run_cycle()

    (msg,) = alerts(h.fake, "C0ACME")
    assert "Strong Customer Authentication" in json.dumps(msg["blocks"])
    with transaction(h.services.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Decline)) == 1
        assert s.scalar(select(Decline.outcome)) == "requires_action"


def test_an_event_pushed_first_then_polled_is_one_alert_sent_at_once(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = Acme(fake_stripe)
    fake_stripe.renew(acme.invoice)

    status, _ = webhook(h, last_event(fake_stripe, "invoice.payment_failed"))
    assert status == 200
    eventually(lambda: alerts(h.fake, "C0ACME"), message="the webhook's alert never came")  # no poll needed
    before = len(fake_stripe.requests)
    h.services.poller.run_cycle()
    h.services.poller.run_cycle()

    assert len(alerts(h.fake, "C0ACME")) == 1
    # the poll knows the event by its id: it asks Stripe nothing more about it
    assert not [r for r in fake_stripe.requests[before:] if "/v1/invoices/" in r.path]
    assert webhook(h, last_event(fake_stripe, "invoice.payment_failed"))[0] == 200  # Stripe retrying a delivery
    time.sleep(0.3)
    assert not [r for r in fake_stripe.requests[before:] if "/v1/invoices/" in r.path]


def signed_post(h: Harness, payload: str, *, t: int | None = None) -> tuple[int, str]:
    t = int(time.time()) if t is None else t
    sig = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return post(
        h.base + "/stripe/webhook", payload, {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={sig}"}
    )


def test_signed_webhooks_that_are_not_events_or_not_now_are_400_without_a_traceback(
    h1: Harness, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed with the right secret, so only the shape and the clock can refuse them: a body that is
    not an event, an event whose data is not an object, and timestamps an hour old or a year ahead."""
    h = h1
    acme = Acme(fake_stripe)
    fake_stripe.renew(acme.invoice)
    good = last_event(fake_stripe, "invoice.payment_failed")
    hostile = [
        "[1]",
        "null",
        '"an event"',
        "[" * 5000 + "]" * 5000,
        json.dumps({"id": "evt_1", "type": "invoice.payment_failed", "data": {"object": nested(100)}}),
        json.dumps({**good, "data": "an invoice"}),
        json.dumps({**good, "data": {"object": ["in_1"]}}),
        json.dumps({**good, "id": 7}),
    ]
    for payload in hostile:
        status, body = signed_post(h, payload)
        assert status == 400, (payload[:40], status, body)
    year_ahead, hour_old = int(time.time()) + 365 * 86400, int(time.time()) - 3600
    status, body = signed_post(h, json.dumps(good), t=year_ahead)
    assert status == 400 and "ahead" in body
    status, body = signed_post(h, json.dumps(good), t=hour_old)
    assert status == 400 and "old" in body
    time.sleep(0.3)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("Stripe webhook refused (400)" in r.getMessage() for r in caplog.records)
    with transaction(h.services.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Decline)) == 0
    assert alerts(h.fake, "C0ACME") == []
    assert signed_post(h, json.dumps(good))[0] == 200  # and the real one, now, still goes through


def nested(depth: int) -> Any:
    inner: Any = {}
    for _ in range(depth):
        inner = {"x": inner}
    return inner


def test_webhook_with_a_bad_or_missing_signature_is_400_and_records_nothing(
    h1: Harness, fake_stripe: FakeStripe
) -> None:
    h = h1
    acme = Acme(fake_stripe)
    fake_stripe.renew(acme.invoice)
    event = last_event(fake_stripe, "invoice.payment_failed")

    assert webhook(h, event, secret="whsec_someone_else")[0] == 400
    assert post(h.base + "/stripe/webhook", json.dumps(event), {"Content-Type": "application/json"})[0] == 400
    assert post(h.base + "/stripe/webhook", "\x00\xff not json", {"Stripe-Signature": "t=1,v1=00"})[0] == 400
    time.sleep(0.3)
    with transaction(h.services.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Decline)) == 0
    assert not fake_stripe.calls("invoices")  # nothing was even looked up
    assert alerts(h.fake, "C0ACME") == []


def test_first_start_reads_a_bounded_window_and_never_alerts_on_old_history(
    h1: Harness, fake_stripe: FakeStripe
) -> None:
    h = h1
    old = Acme(fake_stripe)
    fake_stripe.renew(old.invoice)
    for event in fake_stripe.events:
        event["created"] -= 10 * 86400  # ten days ago: before the 3-day window
    fake_stripe.clock += 1
    recent = fake_stripe.add_customer("Globex", channel="C0GLOBEX", admins=ADMIN)
    fake_stripe.add_card(recent, "4000000000000002", default=True)
    fake_stripe.renew(fake_stripe.add_invoice(recent, 5000))

    h.services.poller.run_cycle()

    assert alerts(h.fake, "C0ACME") == [] and len(alerts(h.fake, "C0GLOBEX")) == 1


def test_many_events_are_read_oldest_first_across_pages(
    h1: Harness, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.balances.ingest

    h = h1
    monkeypatch.setattr(bot.balances.ingest, "PAGE", 3)
    acme = Acme(fake_stripe)
    h.services.poller.run_cycle()  # the cursor is set
    invoices = [fake_stripe.add_invoice(acme.customer, 1000 * (i + 1)) for i in range(7)]
    for inv in invoices:
        fake_stripe.renew(inv)

    report = h.services.poller.run_cycle()

    assert report.new_declines == 7
    with transaction(h.services.sessions) as s:
        order = list(s.scalars(select(Decline.invoice_id).order_by(Decline.id)))
        cursor = s.get(PollCursor, "stripe")
    assert order == invoices  # in the order Stripe saw them
    assert cursor is not None and cursor.cursor.startswith(fake_stripe.events[-1]["id"])
    assert len(alerts(h.fake, "C0ACME")) == 1 and "7 declined" in json.dumps(alerts(h.fake, "C0ACME")[0]["blocks"])


def test_an_expired_cursor_reads_again_from_its_time(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    with transaction(h.services.sessions) as s:
        cursor = s.get(PollCursor, "stripe")
        assert cursor is not None
        event_id = cursor.cursor.split(":")[0]
    fake_stripe.expire_events_before(event_id)  # 30 days passed: the cursor's event is gone
    later = fake_stripe.add_invoice(acme.customer, 4200)
    fake_stripe.renew(later)

    report = h.services.poller.run_cycle()

    assert report.new_declines == 1 and report.feed_error is None


# --- settling --------------------------------------------------------------------------------------


def test_admin_settles_with_another_saved_card_and_the_invoice_is_paid_once(
    h: Harness, fake_stripe: FakeStripe
) -> None:
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    options = {o["value"]: o["text"]["text"] for o in h.options(view_id)}
    assert set(options) == {acme.declined, acme.visa, acme.mastercard, acme.three_ds}
    assert "Mastercard ·· 4444" in options[acme.mastercard]
    assert "Settle balance" in json.dumps(h.alert(acme.invoice)["blocks"])

    h.choose(view_id, ADMIN, acme.mastercard)
    h.confirm(view_id, ADMIN, make_default=True)
    eventually(lambda: "Paid." in h.view_text(view_id), message="modal never said paid")

    assert fake_stripe.invoices[acme.invoice]["status"] == "paid"
    (pay,) = pay_requests(fake_stripe)
    assert pay.params["payment_method"] == acme.mastercard and pay.params["off_session"] == "false"
    assert pay.idempotency_key and pay.idempotency_key.startswith("settle-")
    assert fake_stripe.customers[acme.customer]["invoice_settings"]["default_payment_method"] == acme.mastercard
    eventually(
        lambda: h.alert(acme.invoice)["text"].startswith("[Test mode] Settled by <@U0ADMIN>: Acme Corp paid €129.00")
    )
    # the invoice.paid event that follows changes nothing
    h.services.poller.run_cycle()
    assert "charge_succeeded" in h.audit() and h.audit().count("invoice_paid") == 0


def test_ten_concurrent_confirmations_pay_once(h: Harness, fake_stripe: FakeStripe) -> None:
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    h.choose(view_id, ADMIN, acme.visa)
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: h.confirm(view_id, ADMIN).status, range(10)))
    eventually(lambda: fake_stripe.invoices[acme.invoice]["status"] == "paid")
    time.sleep(0.3)
    assert len(pay_requests(fake_stripe)) == 1


def test_a_declined_card_reads_as_a_reason_in_the_modal(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    h.choose(view_id, ADMIN, acme.declined)
    h.confirm(view_id, ADMIN)
    eventually(lambda: "insufficient funds" in h.view_text(view_id), message=h.view_text(view_id))
    assert fake_stripe.invoices[acme.invoice]["status"] == "open"
    assert h.view(view_id).get("callback_id") != "settle_confirm"


def test_3ds_links_out_to_stripe_and_the_alert_settles_when_the_bank_approves(
    h: Harness, fake_stripe: FakeStripe
) -> None:
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    h.choose(view_id, ADMIN, acme.three_ds)
    h.confirm(view_id, ADMIN)
    eventually(lambda: h.button_url(view_id, "verify_with_bank"), message=h.view_text(view_id))
    assert h.button_url(view_id, "verify_with_bank") == fake_stripe.invoices[acme.invoice]["hosted_invoice_url"]
    eventually(
        lambda: (
            "Waiting for bank verification" in h.alert(acme.invoice)["text"]
            or "bank verification" in h.alert(acme.invoice)["text"]
        )
    )

    fake_stripe.complete_3ds(acme.invoice)  # 3-D Secure done on Stripe's hosted invoice page
    webhook(h, last_event(fake_stripe, "invoice.paid"))

    eventually(lambda: "Settled" in h.alert(acme.invoice)["text"], message="the alert never settled")
    eventually(lambda: "Paid." in h.view_text(view_id), message="the modal never moved on")
    assert len(pay_requests(fake_stripe)) == 1
    assert "verification_approved" in h.audit()


def test_3ds_failed_at_the_bank_is_a_decline(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    h.choose(view_id, ADMIN, acme.three_ds)
    h.confirm(view_id, ADMIN)
    eventually(lambda: h.button_url(view_id, "verify_with_bank"))
    fake_stripe.complete_3ds(acme.invoice, approve=False)

    h.services.poller.run_cycle()  # no event for a failed authentication: the poll asks the PaymentIntent

    eventually(lambda: "verification_declined" in h.audit())
    assert fake_stripe.invoices[acme.invoice]["status"] == "open"


def test_a_stranger_is_refused_and_stripe_is_never_asked_to_pay(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    resp, _ = h.click(STRANGER, invoice_id=acme.invoice)
    assert resp.status == 200
    eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert "only its billing admins" in h.fake.calls_to("chat.postEphemeral")[-1].params["text"]
    assert pay_requests(fake_stripe) == [] and "settle_refused" in h.audit()


def test_429_and_5xx_are_retried_and_the_invoice_is_paid_once(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    h.choose(view_id, ADMIN, acme.visa)
    fake_stripe.fail(r"/pay$", 429)  # rate limited (no Stripe-Should-Retry header)
    fake_stripe.fail(r"/pay$", 500, after_acting=True)  # paid, but the answer was lost

    h.confirm(view_id, ADMIN)

    eventually(lambda: "Paid." in h.view_text(view_id), timeout=15, message=h.view_text(view_id))
    pays = pay_requests(fake_stripe)
    assert len(pays) == 3 and len({p.idempotency_key for p in pays}) == 1  # one key: one charge
    assert fake_stripe.invoices[acme.invoice]["attempt_count"] == 2  # the renewal, then Settle's one payment


def test_stripe_down_during_a_charge_is_finished_later_with_the_same_key(h1: Harness, fake_stripe: FakeStripe) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.models import Settlement

    h = h1
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    h.choose(view_id, ADMIN, acme.visa)
    fake_stripe.fail(r"/pay$", 503, times=10)

    h.confirm(view_id, ADMIN)

    eventually(lambda: "not known yet whether the payment went through" in h.view_text(view_id), timeout=20)
    assert fake_stripe.invoices[acme.invoice]["status"] == "open"
    fake_stripe.faults.clear()
    with transaction(h.services.sessions) as s:
        st = s.scalars(select(Settlement)).one()
        assert st.status == "charging"
        st.updated_at = datetime.now(UTC) - timedelta(minutes=5)

    h.services.poller.run_cycle()  # reconcile: asks again with the same key

    assert fake_stripe.invoices[acme.invoice]["status"] == "paid"
    keys = {p.idempotency_key for p in pay_requests(fake_stripe)}
    assert len(keys) == 1
    eventually(lambda: "Paid." in h.view_text(view_id))


def test_stripe_down_when_the_modal_opens_says_so_and_charges_nothing(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    fake_stripe.fail(r"GET /v1/(invoices|customers|payment_methods)", 503, times=50)
    resp, trigger = h.click(ADMIN, invoice_id=acme.invoice)
    assert resp.status == 200
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    eventually(lambda: "not answering right now" in h.view_text(view_id), timeout=20, message=h.view_text(view_id))
    assert "Nothing was charged" in h.view_text(view_id) and pay_requests(fake_stripe) == []


def test_poll_goes_on_when_stripe_is_down(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    Acme(fake_stripe)
    fake_stripe.fail(r"GET /v1/events", 503, times=50)
    report = h.services.poller.run_cycle()
    assert report.feed_error and "Stripe did not answer" in report.summary()


# --- adding a card on Stripe's page ----------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get_no_redirect(url: str) -> tuple[int, dict[str, str], str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_add_a_card_on_stripe_checkout_and_the_open_modal_offers_it(h: Harness, fake_stripe: FakeStripe) -> None:
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    assert not fake_stripe.calls("checkout")  # opening the modal costs no Checkout session
    link = h.button_url(view_id, "add_method")
    assert link and link.startswith("http://settle.test/stripe/add-card?")
    local = link.replace("http://settle.test", h.base)

    status, headers, _ = _get_no_redirect(local)
    assert status == 303 and headers["Location"].startswith("https://checkout.stripe.com/")
    (create,) = fake_stripe.calls("POST /v1/checkout/sessions")
    assert create.params["mode"] == "setup" and create.params["customer"] == acme.customer
    tampered = local.replace("account=", "account=cus_other")
    assert _get_no_redirect(tampered)[0] == 403

    session_id = create.params and next(iter(fake_stripe.sessions))
    new_card = fake_stripe.complete_checkout(session_id, "378282246310005")  # an Amex
    assert webhook(h, last_event(fake_stripe, "checkout.session.completed"))[0] == 200

    def offered() -> bool:
        method = next((b for b in h.view(view_id).get("blocks", []) if b.get("block_id") == "method"), None)
        return bool(method and method["element"].get("initial_option", {}).get("value") == new_card)

    eventually(offered, message="the new card was never offered, chosen, in the modal")
    assert "American Express ·· 0005" in h.view_text(view_id)
    assert "payment_method_added" in h.audit()
    status, _, page = _get_no_redirect(h.base + "/stripe/card-added")
    assert status == 200 and "Card saved" in page


# --- changes made in Stripe ---------------------------------------------------------------------------


@pytest.mark.parametrize(("close", "word"), [("void", "voided"), ("mark_uncollectible", "written off")])
def test_an_invoice_voided_or_written_off_in_stripe_closes_the_alert(
    h1: Harness, fake_stripe: FakeStripe, close: str, word: str
) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    getattr(fake_stripe, close)(acme.invoice)
    h.services.poller.run_cycle()
    (msg,) = alerts(h.fake, "C0ACME")
    assert f"(1 {word})" in msg["text"] and "Settle balance" not in json.dumps(msg["blocks"])


def test_paid_in_stripe_settles_the_alert(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    fake_stripe.pay_outside(acme.invoice)
    h.services.poller.run_cycle()
    assert h.alert(acme.invoice)["text"].startswith("[Test mode] Settled: Acme Corp paid €129.00")


def test_customer_metadata_changes_are_read_again(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    h.click(STRANGER, invoice_id=acme.invoice)
    eventually(lambda: h.fake.calls_to("chat.postEphemeral"))

    fake_stripe.update_customer(acme.customer, name="Acme Holdings", metadata={"settle_admins": f"{ADMIN},{STRANGER}"})
    h.services.poller.run_cycle()

    assert "Acme Holdings" in h.alert(acme.invoice)["text"]
    view_id = h.open_modal(STRANGER, invoice_id=acme.invoice)  # now one of its admins
    assert "Acme Holdings" in h.view_text(view_id)


def test_a_hostile_customer_name_pings_nobody(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    cus = fake_stripe.add_customer("<!channel> *Evil* <@U0BOSS|boss>", channel="C0EVIL", admins=ADMIN)
    fake_stripe.add_card(cus, "4000000000000002", default=True)
    fake_stripe.renew(fake_stripe.add_invoice(cus, 999))
    h.services.poller.run_cycle()
    (msg,) = alerts(h.fake, "C0EVIL")
    # Slack reads mentions in mrkdwn and the notification text (a header's plain_text pings nobody)
    mrkdwn = [m for b in msg["blocks"] for m in _mrkdwn(b)]
    everything = msg["text"] + "".join(mrkdwn)
    assert mrkdwn and "Evil" in everything
    assert "<!channel>" not in everything and "<@U0BOSS" not in everything


def _mrkdwn(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str) else []
        return own + [t for v in node.values() for t in _mrkdwn(v)]
    if isinstance(node, list):
        return [t for v in node for t in _mrkdwn(v)]
    return []


def test_routing_from_settle_accounts_map_wins_over_metadata(
    stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> None:
    from tests.conftest import run_cli

    acme = Acme(fake_stripe)
    out = run_cli(stripe_env, "accounts", "map", acme.customer, "--channel", "C0MAPPED", "--admin", "U0MAPPED")
    assert "C0MAPPED" in out.stdout
    bad = run_cli(stripe_env, "accounts", "map", acme.customer, "--channel", "general", check=False)
    assert bad.returncode != 0 and "not a Slack channel id" in bad.stderr and "Traceback" not in bad.stderr
    fake_stripe.renew(acme.invoice)
    run_cli(stripe_env, "poll", "--once")
    assert len(alerts(fake_slack, "C0MAPPED")) == 1 and alerts(fake_slack, "C0ACME") == []
    shown = run_cli(stripe_env, "accounts", "list").stdout
    assert acme.customer in shown and "U0MAPPED" in shown and ADMIN in shown


def test_every_command_without_a_stripe_key_says_so_in_one_line(stripe_env: dict[str, str]) -> None:
    from tests.conftest import run_cli

    env = {**stripe_env, "STRIPE_API_KEY": ""}
    for args in (("poll", "--once"), ("serve", "--port", "0"), ("accounts", "list"), ("audit",)):
        proc = run_cli(env, *args, check=False)
        assert proc.returncode != 0, args
        assert proc.stderr.strip().splitlines() == [
            "Error: STRIPE_API_KEY is not set: BILLING_PROVIDER=stripe needs the secret key (sk_live_… or sk_test_…)"
        ], proc.stderr


def test_a_refused_api_key_is_one_clear_line(stripe_env: dict[str, str]) -> None:
    from tests.conftest import run_cli

    proc = run_cli({**stripe_env, "STRIPE_API_KEY": "sk_test_wrong"}, "poll", "--once", check=False)
    assert "Stripe refused Settle's API key" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_stripe_pages_refuse_what_they_do_not_serve(h1: Harness) -> None:
    h = h1
    assert urllib.request.urlopen(h.base + "/healthz").status == 200
    assert _get_no_redirect(h.base + "/stripe/webhook")[0] == 405
    assert _get_no_redirect(h.base + "/stripe/nothing")[0] == 404
    assert _get_no_redirect(h.base + "/stripe/add-card?account=x&ref=y&exp=9999999999&sig=00")[0] == 403
    assert post(h.base + "/stripe/webhook", "x" * (600 * 1024), {"Stripe-Signature": "t=1,v1=00"})[0] == 413


def test_an_idle_poll_costs_one_stripe_request_however_many_alerts_are_open(
    h1: Harness, fake_stripe: FakeStripe
) -> None:
    h = h1
    h.services.poller.run_cycle()
    before = len(fake_stripe.requests)
    h.services.poller.run_cycle()
    nothing_open = [f"{r.method} {r.path}" for r in fake_stripe.requests[before:]]
    for i in range(30):
        cus = fake_stripe.add_customer(f"Customer {i}", channel=f"C0MANY{i % 5}", admins=ADMIN)
        fake_stripe.add_card(cus, "4000000000000002", default=True)
        fake_stripe.renew(fake_stripe.add_invoice(cus, 1000 + i))
    h.services.poller.run_cycle()
    assert sum(len(alerts(h.fake, f"C0MANY{c}")) for c in range(5)) == 30  # six a channel: no digest

    before = len(fake_stripe.requests)
    h.services.poller.run_cycle()
    many_open = [f"{r.method} {r.path}" for r in fake_stripe.requests[before:]]

    assert many_open == nothing_open == ["GET /v1/events"]


def test_a_renewal_declined_again_updates_the_alert_and_says_so_in_its_thread(
    h1: Harness, fake_stripe: FakeStripe
) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    fake_stripe.renew(acme.invoice)  # Stripe's automatic retry, declined again
    h.services.poller.run_cycle()

    (msg,) = alerts(h.fake, "C0ACME")
    assert "(attempt 2)" in json.dumps(msg["blocks"]) and "2 declines so far" in json.dumps(msg["blocks"])
    eventually(lambda: h.replies(acme.invoice), message="no thread reply")


def test_settle_serve_takes_stripe_webhooks(
    stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe, tmp_path: Any
) -> None:
    """A real `settle serve` process: the webhook's alert arrives with no poll in between."""
    from tests.harness import serve_process

    acme = Acme(fake_stripe)
    env = {**stripe_sqlite_env, "POLL_INTERVAL_SECONDS": "3600"}
    with serve_process(env, tmp_path / "serve.log") as (base, _proc):
        eventually(lambda: fake_stripe.calls("GET /v1/events"), message="the first poll never ran")
        time.sleep(0.3)
        fake_stripe.renew(acme.invoice)
        event = json.dumps(last_event(fake_stripe, "invoice.payment_failed"))
        t = int(time.time())
        sig = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{t}.{event}".encode(), hashlib.sha256).hexdigest()
        forged = post(base + "/stripe/webhook", event, {"Stripe-Signature": f"t={t},v1={'0' * 64}"})
        assert forged[0] == 400
        status, body = post(base + "/stripe/webhook", event, {"Stripe-Signature": f"t={t},v1={sig}"})
        assert status == 200 and json.loads(body) == {"received": True}
        eventually(lambda: alerts(fake_slack, "C0ACME"), message="the webhook's alert never came")
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log and STRIPE_WEBHOOK_SECRET not in log and sig not in log


def test_use_another_card_during_3ds_then_pay_with_visa(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = declined(h, fake_stripe)
    view_id = h.settle_with(ADMIN, acme.three_ds, "Verify with your bank", invoice_id=acme.invoice)
    ref = str(h.view(view_id)["private_metadata"])

    h.modal_action(view_id, ADMIN, "check_verification", ref)
    eventually(lambda: "The bank has not confirmed yet" in h.view_text(view_id), message=h.view_text(view_id))
    h.modal_action(view_id, ADMIN, "use_another_card", ref)
    eventually(lambda: h.view(view_id).get("callback_id") == "settle_pick", message=h.view_text(view_id))
    assert "verification_abandoned" in h.audit()

    h.choose(view_id, ADMIN, acme.visa)
    h.confirm(view_id, ADMIN)

    eventually(lambda: "Paid." in h.view_text(view_id), message=h.view_text(view_id))
    assert fake_stripe.invoices[acme.invoice]["status"] == "paid"
    assert [r.params["payment_method"] for r in pay_requests(fake_stripe)] == [acme.three_ds, acme.visa]


def test_settles_own_stripe_pages_speak_the_browsers_language(h1: Harness) -> None:
    req = urllib.request.Request(h1.base + "/stripe/card-added", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        page = resp.read().decode()
    assert "Kaart opgeslagen bij Stripe" in page and '<html lang="nl">' in page
    assert "Card saved with Stripe" in _get_no_redirect(h1.base + "/stripe/card-added")[2]


def test_a_customers_preferred_language_is_its_alerts_language(h1: Harness, fake_stripe: FakeStripe) -> None:
    h = h1
    acme = Acme(fake_stripe)
    fake_stripe.customers[acme.customer]["preferred_locales"] = ["nl"]
    fake_stripe.renew(acme.invoice)
    h.services.poller.run_cycle()
    (msg,) = alerts(h.fake, "C0ACME")
    assert msg["text"].startswith(
        "[Testmodus] Betaling met Visa ·· 9995 geweigerd: Acme Corp heeft €\xa0129,00 openstaan."
    )


def test_accounts_map_sets_an_accounts_language(stripe_env: dict[str, str], fake_stripe: FakeStripe) -> None:
    from tests.conftest import run_cli

    acme = Acme(fake_stripe)
    assert "language nl" in run_cli(stripe_env, "accounts", "map", acme.customer, "--language", "nl").stdout
    bad = run_cli(stripe_env, "accounts", "map", acme.customer, "--language", "fr", check=False)
    assert bad.returncode != 0 and "Settle speaks en, nl" in bad.stderr
