"""A customer-safe alert for a channel shared with the customer (Slack Connect): the decline in words
meant for them, with the provider's own page to pay or to add a card, and nothing internal; the
internal alert says the customer was told; a payment through the page updates both."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_settle_flow import ADMIN, local
from tests.handlers.test_stripe_flow import Acme
from tests.harness import Harness, eventually, running_server

SHARED = "C0SHARED"
HOSTILE = "<!channel> Acme <@U123> *Corp* <#C999> <script>"
AUTH_CARD, FUNDS_CARD, LOST_CARD = "4000002500003155", "4000000000009995", "4000000000009987"


@pytest.fixture
def h(env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def declined(h: Harness, tmp_path: Path, card: str = FUNDS_CARD, **changes: Any) -> None:
    acc = {**account("acme", card, channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"]), **changes}
    other = account("globex", FUNDS_CARD, channel="C0ACME", admins=["U0OTHER"])  # another account, same channel
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [{**acc, "customer_channel": SHARED}, other]))
    h.sandbox.bill()
    h.services.poller.run_cycle()


def shared(h: Harness) -> dict[str, Any]:
    (msg,) = eventually(lambda: h.fake.messages(SHARED), message="nothing in the shared channel")
    return dict(msg)


INTERNAL = (
    re.compile(r"<[@#!]"),  # no mention, channel link or special mention of any kind
    re.compile(r"\b(U0[A-Z0-9]+|C0ACME)\b"),  # no admin's id, no internal channel
    re.compile(r"globex", re.I),  # no other account
    re.compile(r"settle_open|alert_menu|end_balance|next_step|assign|approval", re.I),  # no Settle controls
    re.compile(r"insufficient_funds|decline_code|audit|attempt", re.I),  # no internal codes or records
)


def assert_customer_safe(msg: dict[str, Any]) -> None:
    everything = json.dumps({"text": msg["text"], "blocks": msg["blocks"], "metadata": msg.get("metadata")})
    for pattern in INTERNAL:
        assert not pattern.search(everything), (pattern.pattern, everything)


def test_the_customer_reads_the_decline_in_their_words_and_nothing_internal(h: Harness, tmp_path: Path) -> None:
    declined(h, tmp_path)
    msg = shared(h)
    assert msg["text"] == (
        "Acme Corp, your renewal of €129.00 could not be charged: the bank declined it for now (funds or a limit "
        "on the card). You can pay on the invoice page, with this card or another."
    )
    (button,) = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Pay invoice" and "/sandbox/invoices/in_acme_1?token=" in button["url"]
    assert_customer_safe(msg)
    # the internal alert stays where it is, and says the customer was told
    assert h.alert()["channel"] == "C0ACME"
    eventually(lambda: "📣 *Customer told* in <#C0SHARED>" in json.dumps(h.alert()["blocks"], ensure_ascii=False))


def test_markup_in_the_accounts_own_name_reaches_the_customer_as_text(h: Harness, tmp_path: Path) -> None:
    declined(h, tmp_path, name=HOSTILE)
    msg = shared(h)
    assert_customer_safe(msg)
    assert msg["text"].startswith("&lt;!channel&gt; Acme &lt;@U123&gt; *Corp* &lt;#C999&gt; &lt;script&gt;, your")
    assert "<script>" not in json.dumps(msg)


def test_paying_through_the_page_updates_the_notice_and_the_alert(h: Harness, tmp_path: Path) -> None:
    declined(h, tmp_path, card=AUTH_CARD)
    msg = shared(h)
    assert "your bank asks you to confirm the payment" in msg["text"]
    url = next(e["url"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
    paid = requests.post(local(h, url), allow_redirects=False, timeout=5)
    assert paid.status_code == 303  # to the bank, where the cardholder confirms it
    assert requests.post(local(h, paid.headers["Location"]), data={"decision": "approve"}, timeout=5).ok
    h.services.poller.run_cycle()
    eventually(lambda: h.alert()["text"].startswith("Settled: Acme Corp paid €129.00"), message=h.alert()["text"])
    eventually(lambda: shared(h)["text"] == "✅ Acme Corp, thank you: your renewal of €129.00 is paid.")
    assert not [b for b in shared(h)["blocks"] if b["type"] == "actions"]  # nothing left to press
    assert len(h.fake.messages(SHARED)) == 1  # the same message, updated
    assert_customer_safe(shared(h))


def test_a_card_declined_for_good_gets_the_add_card_page(h: Harness, tmp_path: Path) -> None:
    declined(h, tmp_path, card=LOST_CARD)
    msg = shared(h)
    assert "the card can no longer be used. Add a new card" in msg["text"]
    labels = [e["text"]["text"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Add a new card", "Pay invoice"]
    card_url = next(e["url"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert "for=customer" in card_url and requests.get(local(h, card_url), timeout=5).status_code == 200
    assert_customer_safe(msg)


def test_a_dutch_customer_reads_it_in_dutch(h: Harness, tmp_path: Path) -> None:
    declined(h, tmp_path, language="nl")
    msg = shared(h)
    assert msg["text"].startswith("Acme Corp, je verlenging van €\xa0129,00 kon niet worden betaald: de bank")
    assert "Factuur betalen" in json.dumps(msg["blocks"], ensure_ascii=False)


def test_without_a_shared_channel_nothing_is_told(h: Harness, tmp_path: Path) -> None:
    acc = account("acme", FUNDS_CARD, channel="C0ACME", admins=[ADMIN])
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    assert h.fake.messages(SHARED) == [] and "Customer told" not in json.dumps(h.alert()["blocks"])


def test_on_stripe_the_customer_gets_stripes_own_hosted_page(
    stripe_env: dict[str, str], fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> None:
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        acme = Acme(fake_stripe)
        fake_stripe.customers[acme.customer]["metadata"]["settle_customer_channel"] = SHARED
        fake_stripe.renew(acme.invoice)
        h.services.poller.run_cycle()
        msg = shared(h)
        assert "your renewal of €129.00 could not be charged" in msg["text"]
        url = next(e["url"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
        assert url == fake_stripe.invoices[acme.invoice]["hosted_invoice_url"]
        assert_customer_safe(msg)


def test_a_part_paid_shows_what_is_still_owed(h: Harness, tmp_path: Path) -> None:
    acc = account("acme", FUNDS_CARD, channel="C0ACME", admins=[ADMIN], extra_cards=["4242424242424242"])
    acc["invoices"].append({"amount": "50.00", "description": "acme add-on"})
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [{**acc, "customer_channel": SHARED}]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    assert "your renewal of €179.00" in shared(h)["text"]
    assert [e["text"]["text"] for b in shared(h)["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Pay €129.00",
        "Pay €50.00",
    ]
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2", invoices=["in_acme_1"])
    h.confirm(view_id, ADMIN)
    eventually(lambda: "€50.00" in shared(h)["text"] and "€179.00" not in shared(h)["text"], message=shared(h)["text"])
    labels = [e["text"]["text"] for b in shared(h)["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Pay invoice"]  # only the one still open
    assert_customer_safe(shared(h))


def test_a_shared_channel_settle_is_not_in_says_so_on_the_alert(h: Harness, tmp_path: Path) -> None:
    h.fake.channel(SHARED).member = False
    h.fake.channel(SHARED).public = False  # a Slack Connect channel Settle was not invited to: it cannot join
    declined(h, tmp_path)
    eventually(
        lambda: "The customer was not told* in <#C0SHARED>" in json.dumps(h.alert()["blocks"], ensure_ascii=False),
        message=json.dumps(h.alert()["blocks"]),
    )
    assert h.fake.messages(SHARED) == []


def test_the_shared_channel_is_never_the_accounts_own_alert_channel(h: Harness, tmp_path: Path) -> None:
    acc = {**account("acme", FUNDS_CARD, channel="C0ACME", admins=[ADMIN]), "customer_channel": "C0ACME"}
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    assert len(h.fake.messages("C0ACME")) == 1  # the internal alert alone
