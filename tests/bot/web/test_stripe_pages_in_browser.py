"""Stripe's side as an admin meets it in a browser: the add-card link leads to Stripe Checkout, and
Stripe sends the admin back to Settle's "card saved" page; an old link says what to do instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.web.test_pages_in_browser import browser, shot
from tests.fake_slack import FakeSlack
from tests.fake_stripe import FakeStripe
from tests.handlers.test_stripe_flow import ADMIN, declined
from tests.harness import Harness, running_server

__all__ = ["browser"]


@pytest.fixture
def h(stripe_sqlite_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def test_add_a_card_link_opens_stripe_checkout_and_comes_back(
    browser: Any, h: Harness, fake_stripe: FakeStripe, tmp_path: Path
) -> None:
    acme = declined(h, fake_stripe)
    view_id = h.open_modal(ADMIN, invoice_id=acme.invoice)
    link = h.button_url(view_id, "add_method")
    assert link is not None
    page = browser.new_page(viewport={"width": 720, "height": 640})
    reached: list[str] = []

    def follow(route: Any) -> None:
        # Settle's answer, as the browser gets it; Stripe's hosted page itself is not reachable from
        # here (and Chromium follows a redirect without asking the route again): stand in for it
        answer = route.fetch(max_redirects=0)
        assert answer.status == 303
        reached.append(answer.headers["location"])
        route.fulfill(status=200, content_type="text/html", body="<h1>Stripe Checkout</h1>")

    page.route("**/stripe/add-card?*", follow)
    page.goto(link.replace("http://settle.test", h.base))
    assert reached and reached[0].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert page.inner_text("h1") == "Stripe Checkout"

    session = next(iter(fake_stripe.sessions.values()))
    page.goto(str(session["success_url"]).replace("http://settle.test", h.base))
    assert "Card saved with Stripe" in page.inner_text("h1")
    assert "already selected" in page.inner_text("main")
    shot(page, tmp_path, "stripe-card-saved")

    page.goto(str(session["cancel_url"]).replace("http://settle.test", h.base))
    assert page.inner_text("h1") == "No card was added"
    shot(page, tmp_path, "stripe-card-cancelled")
    page.close()


def test_an_expired_add_card_link_says_what_to_do(browser: Any, h: Harness, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 720, "height": 520})
    response = page.goto(h.base + "/stripe/add-card?account=cus_1&ref=1%3AV1%3AU1&exp=1000&sig=00")
    assert response is not None and response.status == 403
    assert "This link has expired" in page.inner_text("h1")
    assert "Settle balance" in page.inner_text("main")
    shot(page, tmp_path, "stripe-link-expired")
    page.close()


def test_the_stripe_pages_in_dutch(browser: Any, h: Harness, tmp_path: Path) -> None:
    context = browser.new_context(locale="nl-NL", extra_http_headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    page = context.new_page()
    page.goto(h.base + "/stripe/card-added")
    assert page.inner_text("h1") == "✓ Kaart opgeslagen bij Stripe" and "Settle" in page.inner_text("main")
    shot(page, tmp_path, "stripe-card-saved-nl")
    page.goto(h.base + "/stripe/card-added?cancelled=1")
    assert "Card" not in page.inner_text("main")
    shot(page, tmp_path, "stripe-card-cancelled-nl")
    response = page.goto(h.base + "/stripe/add-card?account=cus_1&ref=1%3AV1%3AU1&sig=00")
    assert response is not None and response.status == 403
    assert "Saldo voldoen" in page.inner_text("main") and "expired" not in page.inner_text("main")
    shot(page, tmp_path, "stripe-link-expired-nl")
    context.close()
