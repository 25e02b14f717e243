"""The sandbox's pages as a person meets them: a real headless Chromium fills the add-card form,
approves on the bank's page and reads the invoice. Skipped where no browser is installed (a
newcomer's laptop); required in CI (SETTLE_REQUIRE_BROWSER=1, .ci/run installs Debian's chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, local, setup
from tests.harness import Harness, eventually, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = os.environ.get("SETTLE_SCREENSHOTS")  # a folder to keep the screenshots in, to look at them


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or CHROMIUM is None:
        if os.environ.get("SETTLE_REQUIRE_BROWSER") == "1":
            pytest.fail("a browser is required here (SETTLE_REQUIRE_BROWSER=1): install chromium and playwright")
        pytest.skip("no headless Chromium here (apt-get install chromium; pip install playwright)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def h(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        harness = Harness(base, fake_slack, services)
        setup(harness, tmp_path, extra=["4000002760003184"])
        yield harness


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000  # a rendered page, not a blank one
    return path


def test_add_a_card_in_the_browser(browser: Any, h: Harness, tmp_path: Path) -> None:
    view_id = h.open_modal(ADMIN)
    page = browser.new_page(viewport={"width": 720, "height": 760})
    page.goto(local(h, h.button_url(view_id, "add_method") or ""))
    assert page.title().startswith("Add a card") and "Acme Corp" in page.inner_text("main")
    page.fill("input[name=number]", "4242 4242 4242 4241")  # a typo
    page.fill("input[name=exp]", "12/30")
    page.click("button.primary")
    assert "Not a valid card number" in page.inner_text(".error")
    shot(page, tmp_path, "add-card-error")
    page.fill("input[name=number]", "5555 5555 5555 4444")
    page.fill("input[name=exp]", "12/30")
    page.click("button.primary")
    assert "Card added" in page.inner_text("h1") and "Mastercard ·· 4444" in page.inner_text("main")
    shot(page, tmp_path, "add-card-done")
    page.close()
    eventually(lambda: any(o["text"]["text"] == "Mastercard ·· 4444" for o in h.options(view_id)))


def test_approve_on_the_bank_page_in_the_browser(browser: Any, h: Harness, tmp_path: Path) -> None:
    view_id = h.settle_with(ADMIN, "pm_acme_2", "Verify with your bank")  # ·· 3184 always asks the bank
    page = browser.new_page(viewport={"width": 720, "height": 640})
    page.goto(local(h, h.button_url(view_id, "verify_with_bank") or ""))
    text = page.inner_text("main")
    assert "Verify your payment" in text and "€129.00" in text and "Visa ·· 3184" in text
    shot(page, tmp_path, "bank-verify")
    page.click("button[value=approve]")
    assert "Payment approved" in page.inner_text("h1")
    shot(page, tmp_path, "bank-approved")
    page.close()
    eventually(lambda: "Paid." in h.view_text(view_id))


def test_the_invoice_page_in_the_browser(browser: Any, h: Harness, tmp_path: Path) -> None:
    button = next(
        e
        for b in h.alert()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "view_invoice"
    )
    page = browser.new_page(viewport={"width": 720, "height": 700})
    page.goto(local(h, button["url"]))
    text = page.inner_text("main")
    assert "Invoice in_acme_1" in text and "Acme Corp" in text and "Declined (insufficient funds)" in text
    shot(page, tmp_path, "invoice")
    page.close()


def test_the_bank_page_in_dutch(browser: Any, h: Harness, tmp_path: Path) -> None:
    view_id = h.settle_with(ADMIN, "pm_acme_2", "Verify with your bank")
    url = local(h, h.button_url(view_id, "verify_with_bank") or "")
    context = browser.new_context(locale="nl-NL", extra_http_headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    page = context.new_page()
    page.goto(url)
    assert page.inner_text("h1") == "Verifieer je betaling" and "€\xa0129,00" in page.inner_text("main")
    shot(page, tmp_path, "bank-nl")
    page.click("text=Goedkeuren")
    assert page.inner_text("h1") == "Betaling goedgekeurd"
    context.close()


def dutch(browser: Any) -> Any:
    return browser.new_context(locale="nl-NL", extra_http_headers={"Accept-Language": "nl-NL,nl;q=0.9"})


def test_the_add_card_and_front_pages_in_dutch(browser: Any, h: Harness, tmp_path: Path) -> None:
    view_id = h.open_modal(ADMIN)
    context = dutch(browser)
    page = context.new_page()
    page.goto(local(h, h.button_url(view_id, "add_method") or ""))
    assert page.title() == "Kaart toevoegen · Settle sandbox" and page.inner_text("h1") == "Kaart toevoegen"
    main = page.inner_text("main")
    assert "voor Acme Corp" in main and "Kaartnummer" in main and "Add a card" not in main
    shot(page, tmp_path, "add-card-nl")
    page.goto(h.base + "/")
    assert page.inner_text("h1") == "Settle" and "Op deze server draait Settle" in page.inner_text("main")
    shot(page, tmp_path, "front-nl")
    context.close()


def test_the_invoice_page_in_dutch(browser: Any, h: Harness, tmp_path: Path) -> None:
    button = next(
        e
        for b in h.alert()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "view_invoice"
    )
    context = dutch(browser)
    page = context.new_page()
    page.goto(local(h, button["url"]))
    text = page.inner_text("main")
    assert "Factuur in_acme_1" in text and "€\xa0129,00" in text and "Invoice" not in text
    shot(page, tmp_path, "invoice-nl")
    page.goto(h.base + "/")
    shot(page, tmp_path, "front-en-via-nl-context")
    context.close()


def test_the_customer_pays_on_the_page_sent_in_the_browser(
    browser: Any, sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        setup(h, tmp_path, default="4000002500003155")  # the bank wants the cardholder: Send payment page
        page = browser.new_page(viewport={"width": 720, "height": 760})
        # the bank's page is at PUBLIC_URL (http://settle.test here): the browser reaches it at this server
        page.route("http://settle.test/**", lambda route: route.continue_(url=local(h, route.request.url)))
        page.goto(local(h, h.alert_row().invoices[0].url or ""))
        button = page.locator("form button.primary")
        assert button.inner_text() == "Pay €129.00 with the card on file"
        shot(page, tmp_path, "invoice-pay")
        button.click()
        assert "Verify your payment" in page.inner_text("main")  # the cardholder's own bank page
        page.click("button[value=approve]")
        assert "Payment approved" in page.inner_text("h1")
        assert "Thank you: you can close this tab." in page.inner_text("main")  # no Slack for the customer
        shot(page, tmp_path, "customer-approved")
        page.close()
        h.services.poller.run_cycle()
        eventually(lambda: h.alert_row().state == "paid")


def test_the_customer_adds_a_card_on_their_own_page_in_the_browser(
    browser: Any, sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        setup(h, tmp_path, default="4000000000009987")  # lost: Ask for a new card
        _resp, trigger = h.click(ADMIN, "next_step")
        view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
        link = eventually(
            lambda: next((b["accessory"]["url"] for b in h.view(view_id)["blocks"] if b.get("accessory")), None)
        )
        page = browser.new_page(viewport={"width": 720, "height": 760})
        page.goto(local(h, link))
        assert page.is_checked("input[name=default]")  # the customer's card becomes the renewals' card
        page.fill("input[name=number]", "4242 4242 4242 4242")
        page.fill("input[name=exp]", "12/34")
        shot(page, tmp_path, "customer-add-card")
        page.click("button.primary")
        assert "nothing else is needed" in page.inner_text("main")
        shot(page, tmp_path, "customer-card-added")
        page.close()
