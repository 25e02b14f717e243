"""Slack is answered before anything but reading the request: a click, a command, a submission and an
event are acked while Slack calls that come after (the clicker's language, user-group members) are
still slow. And no Slack call is ever made with a database transaction open (tests/conftest.py checks
every call of every test; the first test here shows that the check catches one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import text

from bot.app import open_database
from storage.db import transaction
from tests import conftest
from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN, setup
from tests.harness import Harness, eventually, running_server

SLOW = 2.0  # seconds each slow Slack call takes


def test_the_check_catches_a_slack_call_inside_a_transaction(sqlite_env: dict[str, str], fake_slack: FakeSlack) -> None:
    _, sessions = open_database(sqlite_env["DATABASE_URL"])
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    with transaction(sessions) as s:
        s.execute(text("SELECT 1"))
        client.auth_test()
    client.auth_test()  # after the commit: fine
    caught = list(conftest._slack_in_transaction)
    conftest._slack_in_transaction.clear()
    assert caught == ["auth.test in MainThread"]


@pytest.fixture
def slow(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Harness]:
    with running_server() as (base, services):
        h = Harness(base, fake_slack, services)
        setup(h, tmp_path)
        # what comes after the ack is slow: the language and group lookups (never cached before)
        fake_slack.delay.update({"users.info": SLOW, "usergroups.users.list": SLOW})
        yield h


def timed(send: object) -> tuple[float, object]:
    started = time.monotonic()
    result = send() if callable(send) else send
    return time.monotonic() - started, result


def test_a_click_is_acked_before_its_slow_lookups(slow: Harness) -> None:
    took, (resp, trigger) = timed(lambda: slow.click(ADMIN))  # type: ignore[misc]
    assert resp.status == 200 and took < SLOW / 2, took
    assert eventually(lambda: slow.fake.view_by_trigger.get(trigger), timeout=3 * SLOW)


def test_a_command_is_acked_before_its_answer_is_worked_out(slow: Harness) -> None:
    resp, _trigger = slow.command(ADMIN)  # waits for the answer through the response_url
    assert resp.status == 200 and "open balance" in resp.body
    assert resp.acked_after < SLOW / 2, resp.acked_after  # the ack came at once; the answer after


def test_a_submission_is_answered_in_the_language_it_was_shown_in_without_asking(slow: Harness) -> None:
    slow.fake.delay.clear()
    view_id = slow.open_modal(ADMIN)
    slow.fake.delay.update({"users.info": SLOW, "usergroups.users.list": SLOW})
    slow.services.languages._cache.clear()  # nothing known about the clicker any more
    took, resp = timed(lambda: slow.submit(view_id, ADMIN, {}))
    assert resp.json() == {"response_action": "errors", "errors": {"method": "Pick a payment method."}}  # type: ignore[union-attr]
    assert took < SLOW / 2, took


def test_an_event_is_acked_before_app_home_is_built(slow: Harness) -> None:
    took, resp = timed(lambda: slow.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0", "tab": "home"}))
    assert resp.status == 200 and took < SLOW / 2, took  # type: ignore[union-attr]
    eventually(lambda: slow.fake.home(ADMIN), timeout=4 * SLOW)
