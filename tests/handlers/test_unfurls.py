"""Pasted links unfurl into the balance: link_shared through the signed endpoint, chat.unfurl at the
fake Slack. In the account's alert channel the card shows account, amount and state with a Settle
button; anywhere else only that the invoice exists and its state; unknown links unfurl to nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.links import LinkRef, parse_link
from bot.domain.workspace import Scope
from bot.read.unfurls import unfurl_of
from storage.db import reading
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_settle_flow import ADMIN, STRANGER, setup
from tests.handlers.test_stripe_flow import Acme
from tests.harness import Harness, eventually, running_server

HOSTILE = "<!channel> Acme *bold* <@U123>"


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def share(h: Harness, url: str, channel: str = "C0ACME", user: str = ADMIN) -> None:
    resp = h.event(
        {
            "type": "link_shared",
            "channel": channel,
            "user": user,
            "message_ts": f"{time.time():.6f}",
            "unfurl_id": None,
            "links": [{"url": url, "domain": url.split("/")[2]}],
            "event_ts": f"{time.time():.6f}",
        }
    )
    assert resp.status == 200


def declined_acme(h: Harness, tmp_path: Path, **changes: Any) -> None:
    """Acme's renewal declined and its alert posted, the account as `changes` make it."""
    acc = {**account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN]), **changes}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()


def unfurled(h: Harness, url: str) -> dict[str, Any]:
    found = eventually(lambda: next((u["unfurls"][url] for u in h.fake.unfurled if url in u["unfurls"]), None))
    return dict(found)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dashboard.stripe.com/invoices/in_1Abc", LinkRef("invoice", "in_1Abc")),
        ("https://dashboard.stripe.com/test/invoices/in_1Abc", LinkRef("invoice", "in_1Abc")),
        ("https://dashboard.stripe.com/acct_1X/test/invoices/in_1Abc/", LinkRef("invoice", "in_1Abc")),
        ("https://dashboard.stripe.com/customers/cus_9Z", LinkRef("customer", "cus_9Z")),
        ("https://dashboard.stripe.com/test/customers/cus_9Z", LinkRef("customer", "cus_9Z")),
        (
            "https://invoice.stripe.com/i/acct_1X/test_YWNj?s=ap",
            LinkRef("hosted", "https://invoice.stripe.com/i/acct_1X/test_YWNj"),
        ),
        ("http://settle.test/sandbox/invoices/in_acme_1?token=x", LinkRef("invoice", "in_acme_1")),
        ("https://dashboard.stripe.com/invoices/cus_9Z", None),  # a customer id where an invoice goes
        ("https://dashboard.stripe.com/payments/pi_1", None),
        ("https://evil.example/sandbox/invoices/in_acme_1", None),  # someone else's host
        ("http://dashboard.stripe.com/invoices/in_1", None),  # not https
        ("https://dashboard.stripe.com/invoices/in_1<script>", None),
        ("javascript:alert(1)", None),
        ("https://dashboard.stripe.com/invoices/" + "x" * 3000, None),
    ],
)
def test_which_links_name_a_balance(url: str, expected: LinkRef | None) -> None:
    assert parse_link(url, "settle.test") == expected


def test_an_invoice_link_in_the_alert_channel_unfurls_with_amount_state_and_button(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    url = "http://settle.test/sandbox/invoices/in_acme_1?token=abc"
    share(h, url)
    shown = json.dumps(unfurled(h, url)["blocks"], ensure_ascii=False)
    assert "🧾 *Acme Corp* · *€129.00* owed · ⚠️ declined: insufficient funds" in shown
    assert "Invoice `in_acme_1`" in shown and '"action_id": "settle_open"' in shown
    # the button is the alert's own: it opens the settle form for an admin, a refusal for anyone else
    unfurl = unfurled(h, url)
    button = next(b["accessory"] for b in unfurl["blocks"] if b.get("accessory"))
    assert button["value"] == str(h.alert_row().id)
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    h.fake.unfurled.clear()
    share(h, url)
    done = json.dumps(unfurled(h, url)["blocks"], ensure_ascii=False)
    assert "✅ settled by <@U0ADMIN>" in done and "settle_open" not in done and "open for" not in done


def test_elsewhere_it_says_only_that_the_invoice_exists_and_its_state(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    url = "http://settle.test/sandbox/invoices/in_acme_1"
    share(h, url, channel="C0RANDOM", user=STRANGER)
    shown = json.dumps(unfurled(h, url)["blocks"], ensure_ascii=False)
    assert "Invoice `in_acme_1` · ⚠️ declined" in shown
    assert "€129.00" not in shown and "Acme" not in shown and "insufficient" not in shown and "U0ADMIN" not in shown
    # no button: a refusal to whoever clicked it would name the account and its admins
    assert "settle_open" not in shown and "accessory" not in shown


def test_nothing_unfurls_where_a_customer_reads(h: Harness, tmp_path: Path) -> None:
    declined_acme(h, tmp_path, customer_channel="C0SHARED")
    url = "http://settle.test/sandbox/invoices/in_acme_1"
    share(h, url, channel="C0SHARED")  # an account's channel shared with its customer
    resp = h.event(  # any Slack Connect channel, as the event's envelope says
        {"type": "link_shared", "channel": "C0OTHERORG", "user": ADMIN, "message_ts": "1.2", "unfurl_id": "U1",
         "source": "conversations_history", "links": [{"url": url, "domain": "settle.test"}]},
        is_ext_shared_channel=True,
    )  # fmt: skip
    assert resp.status == 200
    share(h, url)  # and in the account's own alert channel it still does
    unfurled(h, url)
    assert len(h.fake.unfurled) == 1 and h.fake.unfurled[0]["ts"]


def test_a_link_in_the_composer_unfurls_by_its_unfurl_id(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    url = "http://settle.test/sandbox/invoices/in_acme_1"
    links = [{"url": url, "domain": "settle.test"}]
    event = {"type": "link_shared", "channel": "COMPOSER", "user": ADMIN, "message_ts": "Uabc-123",
             "unfurl_id": "C123456.7890.abc", "source": "composer", "links": links}  # fmt: skip
    assert h.event(event).status == 200
    unfurl = eventually(lambda: h.fake.unfurled)[0]
    assert unfurl["unfurl_id"] == "C123456.7890.abc" and unfurl["source"] == "composer"
    assert "€129.00" not in json.dumps(unfurl["unfurls"], ensure_ascii=False)  # not yet in a channel: the short card


def test_unknown_links_unfurl_to_nothing(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    for url in (
        "https://dashboard.stripe.com/invoices/in_nobody",
        "https://dashboard.stripe.com/customers/cus_nobody",
        "https://example.com/invoices/in_acme_1",
    ):
        share(h, url)
    time.sleep(0.3)
    assert h.fake.unfurled == [] and h.fake.calls_to("chat.unfurl") == []


def test_markup_in_the_account_name_never_pings_from_an_unfurl(h: Harness, tmp_path: Path) -> None:
    declined_acme(h, tmp_path, name=HOSTILE)
    url = "http://settle.test/sandbox/invoices/in_acme_1"
    share(h, url)
    shown = json.dumps(unfurled(h, url)["blocks"], ensure_ascii=False)
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown and "<@U123>" not in shown


def test_a_dutch_accounts_unfurl_is_in_dutch(h: Harness, tmp_path: Path) -> None:
    declined_acme(h, tmp_path, language="nl")
    url = "http://settle.test/sandbox/invoices/in_acme_1"
    share(h, url)
    shown = json.dumps(unfurled(h, url)["blocks"], ensure_ascii=False)
    assert "129,00" in shown and "Saldo voldoen" in shown and "openstaand" in shown


def test_another_workspaces_account_unfurls_to_nothing(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    with reading(h.services.sessions) as s:
        ref = LinkRef("invoice", "in_acme_1")
        assert unfurl_of(s, ref, None, "C0ACME") is not None
        assert unfurl_of(s, ref, Scope("T9", unassigned=False), "C0ACME") is None  # posted in T9: not its own


def test_stripe_dashboard_and_hosted_invoice_links_unfurl(
    stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> None:
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        acme = Acme(fake_stripe)
        hosted = "https://invoice.stripe.com/i/acct_1Test/test_YWNjdF8xVGVzdA"  # as Stripe gives it
        fake_stripe.invoices[acme.invoice]["hosted_invoice_url"] = hosted + "?s=ap"
        fake_stripe.renew(acme.invoice)
        h.services.poller.run_cycle()
        for url in (
            f"https://dashboard.stripe.com/test/invoices/{acme.invoice}",
            f"https://dashboard.stripe.com/customers/{acme.customer}",
            hosted,  # pasted without its query
        ):
            share(h, url)
            shown = json.dumps(unfurled(h, url)["blocks"], ensure_ascii=False)
            assert "*Acme Corp* · *€129.00* owed" in shown, (url, shown)
