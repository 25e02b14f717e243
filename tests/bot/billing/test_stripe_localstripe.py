"""The Stripe provider against localstripe, for what localstripe does as Stripe does: customers with
metadata, card payment methods, the default payment method, Stripe-signed webhooks. (What it does
not do — declines with codes, hosted invoice pages, Checkout, idempotency replay, newest-first
events — is covered against tests/fake_stripe.py in tests/handlers/test_stripe_flow.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from bot.balances.routing import routing_of
from bot.billing.stripe.client import make_client
from bot.billing.stripe.provider import StripeProvider
from storage.db import transaction
from storage.models import Account
from tests import localstripe
from tests.conftest import STRIPE_WEBHOOK_SECRET
from tests.fake_slack import FakeSlack
from tests.harness import Harness, eventually, running_server

KEY = "sk_test_localstripe"


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    with localstripe.running() as url:
        yield url


@pytest.fixture
def ls(localstripe_url: str) -> Iterator[stripe.StripeClient]:
    localstripe.reset(localstripe_url)
    yield stripe.StripeClient(KEY, base_addresses={"api": localstripe_url})


@pytest.fixture
def provider(localstripe_url: str, ls: stripe.StripeClient) -> StripeProvider:
    return StripeProvider(make_client(KEY, localstripe_url), public_base="http://settle.test", link_secret="k" * 32)


def card(client: stripe.StripeClient, customer: str, number: str, exp: tuple[int, int] = (12, 2031)) -> str:
    pm = client.v1.payment_methods.create(
        {"type": "card", "card": {"number": number, "exp_month": exp[0], "exp_year": exp[1], "cvc": "123"}}
    )
    client.v1.payment_methods.attach(pm.id, {"customer": customer})
    return pm.id


def test_a_customer_is_an_account_named_and_routed_by_its_metadata(
    ls: stripe.StripeClient, provider: StripeProvider
) -> None:
    customer = ls.v1.customers.create(
        {
            "name": "Acme <!channel>",
            "email": "billing@acme.example",
            "metadata": {"settle_channel": "C0ACME", "settle_admins": "U0ADMIN, S0BILLING ,"},
        }
    )

    info = provider.get_account(customer.id)

    assert info is not None
    routing = routing_of(info)  # Settle's routing reads the customer's metadata; the provider passes it on
    assert routing is not None
    assert (info.name, routing.channel, routing.admins) == ("Acme <!channel>", "C0ACME", ("U0ADMIN", "S0BILLING"))
    assert provider.get_account("cus_nobody") is None


def test_a_customer_without_metadata_has_no_routing_of_its_own(
    ls: stripe.StripeClient, provider: StripeProvider
) -> None:
    customer = ls.v1.customers.create({"email": "ops@globex.example"})
    info = provider.get_account(customer.id)
    assert info is not None and info.name == "ops@globex.example"
    routing = routing_of(info)
    assert routing is not None and routing.channel is None and routing.admins == ()


def test_cards_are_listed_with_expiry_and_the_default_marked(ls: stripe.StripeClient, provider: StripeProvider) -> None:
    customer = ls.v1.customers.create({"name": "Acme"}).id
    visa = card(ls, customer, "4242424242424242", (4, 2030))
    three_ds = card(ls, customer, "4000002760003184")
    ls.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": visa}})

    methods = {m.id: m for m in provider.list_payment_methods(customer)}

    assert set(methods) == {visa, three_ds}
    assert methods[visa].card.label == "Visa ·· 4242" and (methods[visa].exp_month, methods[visa].exp_year) == (4, 2030)
    assert methods[visa].is_default and not methods[three_ds].is_default
    assert provider.list_payment_methods("cus_nobody") == []


def test_make_default_sets_the_customers_invoice_default(ls: stripe.StripeClient, provider: StripeProvider) -> None:
    customer = ls.v1.customers.create({"name": "Acme"}).id
    first = card(ls, customer, "4242424242424242")
    second = card(ls, customer, "4000056655665556")  # Visa debit

    provider.set_default_payment_method(customer, second)

    settings: Any = ls.v1.customers.retrieve(customer).invoice_settings
    assert settings.default_payment_method == second
    assert [m.id for m in provider.list_payment_methods(customer) if m.is_default] == [second] != [first]


def test_a_refused_key_is_said_plainly(localstripe_url: str, ls: stripe.StripeClient) -> None:
    from bot.domain.errors import ProviderUnavailable

    customer = ls.v1.customers.create({"name": "Acme"}).id
    wrong = StripeProvider(make_client("not-a-key", localstripe_url), public_base="http://x", link_secret="k" * 32)
    with pytest.raises(ProviderUnavailable, match="refused Settle's API key"):
        wrong.list_payment_methods(customer)


@pytest.fixture
def served(
    localstripe_url: str,
    ls: stripe.StripeClient,
    stripe_sqlite_env: dict[str, str],
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Harness, str]]:
    """A running Settle on localstripe, and a customer routed to C0OLD that it already knows (as
    after the customer's first decline)."""
    from bot.balances.routing import apply_account_info

    monkeypatch.setenv("STRIPE_API_BASE", localstripe_url)
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    customer = ls.v1.customers.create({"name": "Acme", "metadata": {"settle_channel": "C0OLD"}}).id
    with running_server() as (base, services):
        info = services.provider.get_account(customer)
        assert info is not None
        with transaction(services.sessions) as s:
            apply_account_info(s, info)
        yield Harness(base, fake_slack, services), customer


def account(h: Harness, customer: str) -> Account:
    with transaction(h.services.sessions) as s:
        acc = s.scalar(select(Account).where(Account.id == customer))
        assert acc is not None
        s.expunge(acc)
        return acc


def test_metadata_changed_in_stripe_reaches_settle_by_a_signed_webhook(
    localstripe_url: str, ls: stripe.StripeClient, served: tuple[Harness, str]
) -> None:
    """localstripe signs its webhooks as Stripe does (t=…,v1=…); its payloads are at API version
    2017-08-15 and carry no previous_attributes: Settle reads the customer again at its own version."""
    h, customer = served
    localstripe.send_webhooks_to(localstripe_url, h.base + "/stripe/webhook", STRIPE_WEBHOOK_SECRET)

    ls.v1.customers.update(
        customer, {"name": "Acme Holdings", "metadata": {"settle_channel": "C0NEW", "settle_admins": "U0NEW"}}
    )

    eventually(lambda: account(h, customer).name == "Acme Holdings", message="the webhook never updated it")
    acc = account(h, customer)
    assert acc.channel == "C0NEW" and [a.slack_id for a in acc.admins] == ["U0NEW"]


def test_a_webhook_signed_with_another_secret_changes_nothing(
    localstripe_url: str, ls: stripe.StripeClient, served: tuple[Harness, str]
) -> None:
    import time

    h, customer = served
    localstripe.send_webhooks_to(localstripe_url, h.base + "/stripe/webhook", "whsec_not_settles")
    ls.v1.customers.update(customer, {"name": "Mallory", "metadata": {"settle_admins": "U0MALLORY"}})
    time.sleep(1.0)  # localstripe posts its webhooks in the background
    acc = account(h, customer)
    assert acc.name == "Acme" and acc.admins == []
