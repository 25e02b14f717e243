"""What an unlucky admin meets: a slow Slack, outside text longer than Slack allows, a failure in
the background, a database that goes away. Each gets a clear answer, never a stuck modal or a 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, setup
from tests.harness import Harness, eventually, running_server
from tests.slack_requests import get


@pytest.fixture
def h(sqlite_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services)


def test_confirm_is_acknowledged_before_any_slack_call(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.fake.rate_limit["chat.update"] = 3  # three 429s with Retry-After: 1 s each

    resp = h.confirm(view_id, ADMIN)

    assert resp.status == 200 and "Charging" in resp.body  # Bolt would answer 404 after 3 s
    eventually(lambda: "Paid." in h.view_text(view_id), timeout=15)
    assert len(h.attempts()) == 1


def test_outside_text_longer_than_slack_allows_is_cut_not_stuck(h: Harness, tmp_path: Path) -> None:
    acc = account("acme", "4000000000009995", channel="C0ACME", extra_cards=["4242424242424242"])
    acc["name"] = "<" * 200  # 800 characters once escaped
    acc["invoices"][0]["description"] = "&" * 1000
    load_accounts(h.services, write_accounts(tmp_path / "a.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    assert h.alert()["text"].startswith("Payment declined: &lt;&lt;")

    view_id = h.open_modal(ADMIN)  # reaches the card choice: the fake Slack enforces Slack's limits
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.confirm(view_id, ADMIN)
    eventually(lambda: "Paid." in h.view_text(view_id))
    assert h.fake.invalid == []


def test_a_failure_while_filling_the_form_is_logged_and_shown(
    h: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(h, tmp_path)

    def provider_down(account_id: str) -> list[object]:
        raise ConnectionError("provider unreachable")

    monkeypatch.setattr(h.services.provider, "list_payment_methods", provider_down)
    with caplog.at_level(logging.ERROR):
        _resp, trigger = h.click(ADMIN)
        view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
        eventually(lambda: "went wrong on Settle's side" in h.view_text(view_id), message=h.view_text(view_id))
    assert any("not filled" in r.getMessage() for r in caplog.records)


def test_a_database_gone_mid_flow_gets_try_again(h: Harness, tmp_path: Path) -> None:
    setup(h, tmp_path)
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    db = Path(str(h.services.engine.url.database))
    h.services.engine.dispose()
    db.rename(db.with_suffix(".away"))  # the next connection finds an empty database
    try:
        resp = h.confirm(view_id, ADMIN)
        assert resp.status == 200  # answered at once; then the modal says what happened
        eventually(lambda: "Try again in a moment" in h.view_text(view_id), message=h.view_text(view_id))
        status, page = get(h.sandbox.invoice_url("in_acme_1").replace("http://settle.test", h.base))
        assert status == 503 and "try again" in page
    finally:
        h.services.engine.dispose()
        db.with_suffix(".away").rename(db)
