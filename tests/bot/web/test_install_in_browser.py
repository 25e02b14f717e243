"""Installing Settle into a workspace as its admin does, in a real headless Chromium: the install
page with its "Add to Slack" link (the browser keeps the state cookie), then Slack's redirect back
with a code (slack.com itself is not reachable here: the browser goes straight to the redirect the
fake Slack's code would come with) and the page that says it worked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.bot.slack.test_workspaces import oauth_env  # noqa: F401  (a fixture)
from tests.bot.web.test_pages_in_browser import browser, shot  # noqa: F401  (browser is a fixture)
from tests.fake_slack import FakeSlack
from tests.harness import running_server


@pytest.fixture
def base(oauth_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[tuple[str, Any]]:  # noqa: F811
    with running_server() as served:
        yield served


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_install_in_the_browser(browser: Any, base: tuple[str, Any], fake_slack: FakeSlack, tmp_path: Path) -> None:  # noqa: F811
    url, services = base
    page = browser.new_page(viewport={"width": 720, "height": 560})
    page.goto(url + "/slack/install")
    assert page.title() == "Add Settle to Slack · Settle"
    assert page.inner_text("a.button") == "Add to Slack"
    link = page.get_attribute("a.button", "href") or ""
    assert link.startswith("https://slack.com/oauth/v2/authorize?")
    shot(page, tmp_path, "install")

    state = parse_qs(urlsplit(link).query)["state"][0]
    page.goto(url + "/slack/oauth_redirect?" + urlencode({"code": "code-T2", "state": state}))
    assert page.inner_text("h1") == "Settle is installed in Team T2"
    assert page.get_attribute("a.button", "href") == "slack://app?team=T2&id=A0SETTLE"
    shot(page, tmp_path, "installed")
    assert services.workspaces.installed() == {"T2"}

    # the same link again, from the browser's history: refused, nothing installed twice
    page.goto(url + "/slack/oauth_redirect?" + urlencode({"code": "code-T2", "state": state}))
    assert page.inner_text("h1") == "This install link has expired"
    assert page.get_attribute("a.button", "href") == "/slack/install"
    shot(page, tmp_path, "install-replayed")
    assert len(fake_slack.calls_to("oauth.v2.access")) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_install_in_dutch(browser: Any, base: tuple[str, Any], fake_slack: FakeSlack, tmp_path: Path) -> None:  # noqa: F811
    url, _services = base
    context = browser.new_context(locale="nl-NL", extra_http_headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    page = context.new_page()
    page.goto(url + "/slack/install")
    assert (
        page.title() == "Settle aan Slack toevoegen · Settle" and page.inner_text("a.button") == "Aan Slack toevoegen"
    )
    assert "Kaartnummers gaan nooit via Slack" in page.inner_text("main")
    shot(page, tmp_path, "install-nl")
    state = parse_qs(urlsplit(page.get_attribute("a.button", "href") or "").query)["state"][0]
    page.goto(url + "/slack/oauth_redirect?" + urlencode({"code": "code-T2", "state": state}))
    assert page.inner_text("h1") == "Settle is geïnstalleerd in Team T2"
    assert "<code>" not in page.inner_text("main") and page.inner_text("code") == "T2"
    shot(page, tmp_path, "installed-nl")
    page.goto(url + "/slack/oauth_redirect?" + urlencode({"error": "access_denied", "state": state}))
    assert page.inner_text("h1") in ("Niet geïnstalleerd", "Deze installatielink is verlopen")
    assert page.inner_text("a.button") == "Opnieuw beginnen"
    shot(page, tmp_path, "install-failed-nl")
    context.close()
