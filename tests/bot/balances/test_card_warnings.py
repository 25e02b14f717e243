"""Warnings before the decline: a renewal coming up on a card that expires first, or was declined
before, is warned about once in the account's channel with an Update card button; the warning goes
quiet when the account has another default card. Sandbox and Stripe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from storage.db import transaction
from storage.models import CardWarning
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_settle_flow import ADMIN, STRANGER, local
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import get, post


def warnings(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel) if "renewal on" in m.get("text", "")]


def soon(days: int = 5) -> date:
    return (datetime.now(UTC) + timedelta(days=days)).date()


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def load(h: Harness, tmp_path: Path, card: str, *, exp: str | None = None, renews: date | None = None) -> None:
    acc = account("acme", card, channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["invoices"] = []
    if exp:
        acc["payment_methods"][0]["exp"] = exp
    acc["renewal"] = {"on": (renews or soon()).isoformat(), "amount": "129.00"}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))


def test_a_card_expiring_before_the_renewal_is_warned_about_once(h: Harness, tmp_path: Path) -> None:
    last_month = datetime.now(UTC).replace(day=1) - timedelta(days=1)
    load(h, tmp_path, "4242424242424242", exp=last_month.strftime("%m/%y"))
    first = h.services.poller.run_cycle()
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=7), tick=True):
        again = h.services.poller.run_cycle()  # the next scan: the same card and renewal
    assert (first.card_warnings, again.card_warnings) == (1, 0)
    (msg,) = warnings(h.fake, "C0ACME")
    assert "Acme Corp's renewal on" in msg["text"] and "(€129.00) will be charged to Visa ·· 4242" in msg["text"]
    assert "expires before then" in msg["text"] and "update_card" in json.dumps(msg["blocks"])
    assert "card_warning" in h.audit()


def test_a_card_declined_before_is_warned_about(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, "4000000000009995")
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["renewal"] = {"on": soon().isoformat(), "amount": "129.00"}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()  # declined: insufficient funds
    h.services.poller.run_cycle()
    assert warnings(h.fake, "C0ACME") == []  # the open balance's alert is about this card already
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")  # paid with another card; the default stays as it was
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=7), tick=True):
        h.services.poller.run_cycle()
    (msg,) = warnings(h.fake, "C0ACME")
    assert "was declined before" in msg["text"]


def test_a_good_card_or_a_far_renewal_is_not_warned_about(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, "4242424242424242")  # valid for years
    h.services.poller.run_cycle()
    load(h, tmp_path, "4242424242424242", exp="01/20", renews=soon(40))  # expired, but renews in 40 days
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=7), tick=True):
        h.services.poller.run_cycle()
    assert warnings(h.fake, "C0ACME") == []


def test_update_card_gives_an_admin_a_fresh_link_and_the_warning_goes_quiet(h: Harness, tmp_path: Path) -> None:
    load(h, tmp_path, "4242424242424242", exp="01/20")
    h.services.poller.run_cycle()
    (msg,) = warnings(h.fake, "C0ACME")
    warning_id = next(e["value"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
    action = {"action_id": "update_card", "block_id": "card_warning_actions", "type": "button", "value": warning_id}

    def click(user: str) -> None:
        h.message_action(user, action, {**msg, "channel": "C0ACME"})

    click(STRANGER)
    click(ADMIN)
    eventually(lambda: len(h.fake.calls_to("chat.postEphemeral")) == 2)
    stranger, admin = sorted((c.params for c in h.fake.calls_to("chat.postEphemeral")), key=lambda p: p["user"])[::-1]
    assert stranger["user"] == STRANGER and stranger["text"].startswith("You can't update Acme Corp's card")
    link = admin["text"].split("<", 1)[1].split("|", 1)[0]
    assert get(local(h, link))[0] == 200  # the sandbox's add-card page
    post(
        local(h, link),
        "number=5555555555554444&exp=12%2F30&default=on",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )

    with time_machine.travel(datetime.now(UTC) + timedelta(hours=7), tick=True):
        h.services.poller.run_cycle()
    assert len(warnings(h.fake, "C0ACME")) == 1
    eventually(lambda: warnings(h.fake, "C0ACME")[0]["text"].startswith("✅ Acme Corp has a new default card"))
    assert "update_card" not in json.dumps(warnings(h.fake, "C0ACME")[0]["blocks"])
    with transaction(h.services.sessions) as s:
        assert s.scalars(select(CardWarning)).one().resolved_at is not None


def warned(h: Harness, tmp_path: Path) -> dict[str, Any]:
    load(h, tmp_path, "4242424242424242", exp="01/20")
    h.services.poller.run_cycle()
    (msg,) = warnings(h.fake, "C0ACME")
    return msg


def quiet(h: Harness) -> None:
    """The warning edited to say it is over, with no scan in between (the clock has not moved)."""
    eventually(lambda: warnings(h.fake, "C0ACME")[0]["text"].startswith("✅ Acme Corp has a new default card"))
    assert "update_card" not in json.dumps(warnings(h.fake, "C0ACME")[0]["blocks"])


def test_a_card_added_through_the_warning_is_the_renewal_card_and_the_warning_clears_at_once(
    h: Harness, tmp_path: Path
) -> None:
    msg = warned(h, tmp_path)
    warning_id = next(e["value"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
    action = {"action_id": "update_card", "block_id": "card_warning_actions", "type": "button", "value": warning_id}
    h.message_action(ADMIN, action, {**msg, "channel": "C0ACME"})
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    link = eph[0].params["text"].split("<", 1)[1].split("|", 1)[0]
    # no "make it the default" ticked: updating the card is what the button is for
    post(local(h, link), "number=5555555555554444&exp=12%2F30", {"Content-Type": "application/x-www-form-urlencoded"})
    quiet(h)
    default = next(m for m in h.sandbox.list_payment_methods("acme") if m.is_default)
    assert default.card.label == "Mastercard ·· 4444" and "default_method_changed" in h.audit()


def test_a_default_changed_in_the_billing_system_clears_the_warning_at_the_next_poll(
    h: Harness, tmp_path: Path
) -> None:
    warned(h, tmp_path)
    h.sandbox.set_default_payment_method("acme", "pm_acme_2")  # as an admin would in the provider's dashboard
    h.services.poller.run_cycle()  # minutes later, not the six-hourly scan
    quiet(h)


def test_a_decline_on_the_warned_card_takes_over_from_the_warning(h: Harness, tmp_path: Path) -> None:
    """The warning said the renewal would fail; it did: the alert says the rest, and the warning says
    so instead of offering Update card beside the alert's Settle balance."""
    load(h, tmp_path, "4000000000009995", exp="01/20", renews=soon(1))  # expired, and short of funds besides
    h.services.poller.run_cycle()
    (msg,) = warnings(h.fake, "C0ACME")
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["payment_methods"][0]["exp"] = "01/20"
    acc["renewal"] = {"on": soon(1).isoformat(), "amount": "129.00"}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()  # that renewal's invoice (a day early: the sandbox bills when told), declined
    h.services.poller.run_cycle()
    eventually(lambda: "declined on Visa ·· 9995" in warnings(h.fake, "C0ACME")[0]["text"])
    (edited,) = [m for m in warnings(h.fake, "C0ACME") if m["ts"] == msg["ts"]]
    assert "update_card" not in json.dumps(edited["blocks"])
    assert [m for m in h.fake.messages("C0ACME") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]


def test_a_decline_days_before_a_warned_renewal_leaves_that_warning(h: Harness, tmp_path: Path) -> None:
    """A card declined today says nothing yet about the renewal in ten days it was warned about: that
    warning and its Update card stay (its text would be false)."""
    load(h, tmp_path, "4000000000009995", exp="01/20", renews=soon(10))
    h.services.poller.run_cycle()
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["payment_methods"][0]["exp"] = "01/20"
    acc["renewal"] = {"on": soon(10).isoformat(), "amount": "129.00"}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    (warning,) = warnings(h.fake, "C0ACME")
    assert "expires before then" in warning["text"] and "update_card" in json.dumps(warning["blocks"])


def test_a_warning_is_never_posted_beside_the_decline_alert_for_the_same_card(h: Harness, tmp_path: Path) -> None:
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["payment_methods"][0]["exp"] = "01/20"  # expired too: a warning's reason, were the alert not there
    acc["renewal"] = {"on": soon().isoformat(), "amount": "129.00"}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    report = h.services.poller.run_cycle()
    assert report.card_warnings == 0 and warnings(h.fake, "C0ACME") == []
    assert [m for m in h.fake.messages("C0ACME") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]


def test_stripe_renewals_are_read_from_subscriptions(
    stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> None:
    cus = fake_stripe.add_customer("Acme Corp", channel="C0ACME", admins=ADMIN)
    card = fake_stripe.add_card(cus, "4242424242424242", default=True, exp=(1, 2021))
    fake_stripe.add_subscription(cus, 12900, int((datetime.now(UTC) + timedelta(days=4)).timestamp()))
    fine = fake_stripe.add_customer("Globex", channel="C0GLOBEX", admins=ADMIN)
    good = fake_stripe.add_card(fine, "4242424242424242", default=True)
    fake_stripe.add_subscription(fine, 5000, int((datetime.now(UTC) + timedelta(days=4)).timestamp()), card=good)
    with running_server() as (_base, services):
        known(services, cus, fine)
        report = services.poller.run_cycle()
    assert report.card_warnings == 1 and card
    (msg,) = warnings(fake_slack, "C0ACME")
    assert "Visa ·· 4242" in msg["text"] and "expires before then" in msg["text"]
    assert warnings(fake_slack, "C0GLOBEX") == []


def known(services: Any, *customers: str) -> None:
    """Settle has read these Stripe customers (their routing), as it has before renewal day."""
    from bot.balances.routing import apply_account_info

    with transaction(services.sessions) as s:
        for customer in customers:
            info = services.provider.get_account(customer)
            assert info is not None
            apply_account_info(s, info)


def test_a_stripe_customer_whose_default_card_changes_has_its_warning_cleared_at_the_next_poll(
    stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> None:
    cus = fake_stripe.add_customer("Acme Corp", channel="C0ACME", admins=ADMIN)
    fake_stripe.add_card(cus, "4242424242424242", default=True, exp=(1, 2021))
    fresh = fake_stripe.add_card(cus, "5555555555554444")
    fake_stripe.add_subscription(cus, 12900, int((datetime.now(UTC) + timedelta(days=4)).timestamp()))
    with running_server() as (_base, services):
        known(services, cus)
        assert services.poller.run_cycle().card_warnings == 1
        # in Stripe's dashboard: customer.updated, previous_attributes naming the card it replaced
        fake_stripe.update_customer(cus, invoice_settings={"default_payment_method": fresh})
        services.poller.run_cycle()  # the next poll, not the six-hourly scan
        eventually(lambda: warnings(fake_slack, "C0ACME")[0]["text"].startswith("✅ Acme Corp has a new default card"))
        with transaction(services.sessions) as s:
            assert s.scalars(select(CardWarning)).one().resolved_how == "replaced"


def test_a_stripe_subscription_on_its_own_card_keeps_its_warning_when_only_the_customers_default_changes(
    stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> None:
    """Stripe charges a subscription's own default card before the customer's: a new customer default
    leaves that renewal on the expiring card, so its warning stays; Settle's Update card moves the
    subscription too, and then it is over."""
    cus = fake_stripe.add_customer("Acme Corp", channel="C0ACME", admins=ADMIN)
    old = fake_stripe.add_card(cus, "4242424242424242", default=True, exp=(1, 2021))
    fresh = fake_stripe.add_card(cus, "5555555555554444")
    sub = fake_stripe.add_subscription(cus, 12900, int((datetime.now(UTC) + timedelta(days=4)).timestamp()), card=old)
    with running_server() as (_base, services):
        known(services, cus)
        assert services.poller.run_cycle().card_warnings == 1
        fake_stripe.update_customer(cus, invoice_settings={"default_payment_method": fresh})
        services.poller.run_cycle()
        with transaction(services.sessions) as s:
            assert s.scalars(select(CardWarning)).one().resolved_at is None  # the subscription renews on `old`
        services.provider.set_default_payment_method(cus, fresh)  # what Update card and "make default" do
        assert fake_stripe.subscriptions[sub]["default_payment_method"] == fresh
