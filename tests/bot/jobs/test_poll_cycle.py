"""The poll-and-post loop against the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Settle, build
from bot.billing.sandbox.provider import SandboxProvider
from bot.settings import Settings
from storage.db import transaction
from storage.models import Alert, AuditEvent, PollCursor
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack

DECLINING = {
    "4000000000000002": ("generic_decline", "declined the card without giving a reason"),
    "4000000000009995": ("insufficient_funds", "insufficient funds"),
    "4000000000000069": ("expired_card", "has expired"),
    "4000002500003155": ("authentication_required", "Strong Customer Authentication"),
    "4000002760003184": ("authentication_required", "Strong Customer Authentication"),
}


@pytest.fixture
def services(env: dict[str, str]) -> Settle:
    svc = build(Settings())
    yield svc
    svc.close()


def sandbox(services: Settle) -> SandboxProvider:
    assert isinstance(services.provider, SandboxProvider)
    return services.provider


def load(services: Settle, tmp_path: Path, *accounts: dict) -> None:
    load_accounts(services, write_accounts(tmp_path / "accounts.yml", list(accounts)))


def alert_messages(fake: FakeSlack, channel: str | None = None) -> list[dict]:
    return [m for m in fake.messages(channel) if (m.get("metadata") or {}).get("event_type") == "settle_alert"]


@pytest.mark.parametrize("card", sorted(DECLINING))
def test_each_declining_card_posts_one_readable_alert(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path, card: str
) -> None:
    load(services, tmp_path, account("acme", card, channel="C0ACME"))
    sandbox(services).bill()

    report = services.poller.run_cycle()

    code, words = DECLINING[card]
    msgs = alert_messages(fake_slack, "C0ACME")
    assert len(msgs) == 1 and report.delivery.posted == 1
    msg = msgs[0]
    assert "Acme Corp" in msg["text"] and "€129.00" in msg["text"] and f"·· {card[-4:]}" in msg["text"]
    body = str(msg["blocks"])
    assert words in body and "Settle balance" in body and "View invoice" in body
    assert msg["metadata"]["event_payload"]["account_id"] == "acme"
    with transaction(services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.latest_decline.reason == code
        assert (alert.channel, alert.ts) == ("C0ACME", msg["ts"])


def test_a_card_that_pays_posts_nothing(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    load(services, tmp_path, account("ok", "4242424242424242", channel="C0OK"))
    attempts = sandbox(services).bill()
    assert [a.outcome for a in attempts] == ["succeeded"]
    report = services.poller.run_cycle()
    assert report.new_declines == 0 and fake_slack.messages() == []


def test_cursor_reads_only_new_failures(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    load(services, tmp_path, account("a", "4000000000000002", channel="C1"), account("b", "4000000000009995"))
    sandbox(services).bill()
    first = services.poller.run_cycle()
    assert (first.new_declines, first.delivery.posted) == (2, 2)
    with transaction(services.sessions) as s:
        cursor = s.get(PollCursor, "sandbox")
        assert cursor is not None and int(cursor.cursor) >= 2

    second = services.poller.run_cycle()
    assert (second.new_declines, second.delivery.posted, second.delivery.updated) == (0, 0, 0)
    assert len(alert_messages(fake_slack)) == 2
    # the feed is read from the cursor: nothing older is listed again
    assert sandbox(services).changes(cursor.cursor).failures == []


def test_second_decline_updates_the_alert_instead_of_adding_one(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    load(services, tmp_path, account("acme", "4000000000009995", channel="C0ACME"))
    sandbox(services).bill()
    services.poller.run_cycle()
    sandbox(services).bill()  # the renewal is retried and declined again
    report = services.poller.run_cycle()

    assert report.new_declines == 1 and report.new_alerts == 0 and report.delivery.updated == 1
    msgs = alert_messages(fake_slack, "C0ACME")
    assert len(msgs) == 1 and msgs[0].get("edits") == 1
    assert "2 declines so far" in str(msgs[0]["blocks"])


def test_paid_invoice_alert_says_so_and_loses_the_settle_button(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    load(services, tmp_path, account("acme", "4000000000009995", channel="C0ACME", extra_cards=["4242424242424242"]))
    sandbox(services).bill()
    services.poller.run_cycle()
    result = sandbox(services).pay_invoice("in_acme_1", "pm_acme_2", idempotency_key="outside-settle")
    assert result.outcome == "succeeded"

    report = services.poller.run_cycle()

    assert report.paid == 1 and report.delivery.updated == 1
    msg = alert_messages(fake_slack, "C0ACME")[0]
    assert msg["text"].startswith("Settled: Acme Corp paid €129.00")
    assert "Settle balance" not in str(msg["blocks"])


def test_account_without_channel_goes_to_the_alert_channel(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    load(services, tmp_path, account("globex", "4000000000000002"))
    sandbox(services).bill()
    services.poller.run_cycle()
    assert len(alert_messages(fake_slack, "CALERTS")) == 1


def test_missing_channel_falls_back_and_is_recorded(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.channel("C0GONE").exists = False
    load(services, tmp_path, account("acme", "4000000000000002", channel="C0GONE"))
    sandbox(services).bill()

    services.poller.run_cycle()

    msgs = alert_messages(fake_slack, "CALERTS")
    assert len(msgs) == 1 and "<#C0GONE> could not be reached" in str(msgs[0]["blocks"])
    with transaction(services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert (alert.channel, alert.fallback_reason) == ("CALERTS", "channel_not_found")
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert "alert_channel_fallback" in actions and "alert_posted" in actions


def test_public_channel_is_joined_before_falling_back(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.channel("C0PUB").member = False
    load(services, tmp_path, account("acme", "4000000000000002", channel="C0PUB"))
    sandbox(services).bill()
    services.poller.run_cycle()
    assert len(fake_slack.calls_to("conversations.join")) == 1
    assert len(alert_messages(fake_slack, "C0PUB")) == 1 and alert_messages(fake_slack, "CALERTS") == []


def test_private_channel_without_the_bot_falls_back(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    priv = fake_slack.channel("G0PRIV")
    priv.member, priv.public = False, False
    load(services, tmp_path, account("acme", "4000000000000002", channel="G0PRIV"))
    sandbox(services).bill()
    services.poller.run_cycle()
    assert alert_messages(fake_slack, "G0PRIV") == [] and len(alert_messages(fake_slack, "CALERTS")) == 1


def test_rate_limited_post_is_retried_not_dropped(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.rate_limit["chat.postMessage"] = 1
    load(services, tmp_path, account("acme", "4000000000000002", channel="C0ACME"))
    sandbox(services).bill()

    report = services.poller.run_cycle()

    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and posts[1].at - posts[0].at >= 0.9  # waited out Retry-After: 1
    assert report.delivery.posted == 1 and len(alert_messages(fake_slack)) == 1


def test_slack_error_keeps_the_alert_for_the_next_cycle(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.errors["chat.postMessage"] = "internal_error"
    load(services, tmp_path, account("acme", "4000000000000002", channel="C0ACME"))
    sandbox(services).bill()

    first = services.poller.run_cycle()
    assert first.delivery.failed and alert_messages(fake_slack) == []

    second = services.poller.run_cycle()
    assert second.delivery.posted == 1 and len(alert_messages(fake_slack)) == 1


def test_deleted_alert_message_is_posted_again(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    load(services, tmp_path, account("acme", "4000000000009995", channel="C0ACME"))
    sandbox(services).bill()
    services.poller.run_cycle()
    fake_slack.channel("C0ACME").messages.clear()  # someone deleted it
    sandbox(services).bill()
    services.poller.run_cycle()
    assert len(alert_messages(fake_slack, "C0ACME")) == 1


def test_unknown_account_is_alerted_to_the_default_channel(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    load(services, tmp_path, account("acme", "4000000000000002"))  # the provider names no channel for it
    from storage.models import Account

    with transaction(services.sessions) as s:
        s.delete(s.get(Account, "acme"))  # Settle forgot the account; the provider still has it
    sandbox(services).bill()
    services.poller.run_cycle()
    assert len(alert_messages(fake_slack, "CALERTS")) == 1


def test_a_post_slack_took_but_whose_answer_was_lost_is_not_posted_twice(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.lose_answer["chat.postMessage"] = 1  # Slack posts it, then answers 500
    load(services, tmp_path, account("acme", "4000000000000002", channel="C0ACME"))
    sandbox(services).bill()

    first = services.poller.run_cycle()
    second = services.poller.run_cycle()

    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # never re-sent blindly
    assert len(alert_messages(fake_slack)) == 1
    assert first.delivery.failed and second.delivery.recovered == 1
    with transaction(services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.ts == alert_messages(fake_slack)[0]["ts"]


def test_unreachable_slack_is_one_line_and_the_cycle_goes_on(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from tests.conftest import run_cli

    accounts = [account("acme", "4000000000000002"), account("globex", "4000000000009995")]
    run_cli(env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", accounts)))
    run_cli(env, "sandbox", "bill")
    proc = run_cli({**env, "SLACK_API_URL": "http://127.0.0.1:9/api/"}, "poll", "--once", check=False)

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert "2 new alerts, 0 posted" in proc.stdout and "2 failed" in proc.stdout
    assert proc.stdout.count("slack_unreachable") == 2  # both alerts were tried
    assert "posted" in run_cli(env, "poll", "--once").stdout  # Slack back: both go out
    assert len(alert_messages(fake_slack, "CALERTS")) == 2


class CountingProvider:
    """The real sandbox provider, counting what the poller asks of it (no behaviour changed)."""

    def __init__(self, inner: SandboxProvider) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.name = inner.name

    def __getattr__(self, method: str) -> object:
        target = getattr(self.inner, method)
        if not callable(target):
            return target

        def counted(*args: object, **kwargs: object) -> object:
            self.calls.append(method)
            return target(*args, **kwargs)

        return counted


def test_an_idle_poll_asks_the_provider_the_same_over_many_open_alerts_as_over_none(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from bot.balances.ingest import Ingest
    from bot.jobs.poll import PollCycle

    def idle_calls() -> list[str]:
        counting = CountingProvider(sandbox(services))
        PollCycle(Ingest(services.sessions, counting), services.courier).run_cycle()  # type: ignore[arg-type]
        return counting.calls

    services.poller.run_cycle()
    nothing_open = idle_calls()
    accounts = [account(f"acct{i:03d}", "4000000000000002", channel=f"C0MANY{i % 6}") for i in range(60)]
    load(services, tmp_path, *accounts)
    sandbox(services).bill()
    services.poller.run_cycle()  # 60 open alerts now
    assert sum(len(alert_messages(fake_slack, f"C0MANY{c}")) for c in range(6)) == 60  # ten a channel: no digest

    many_open = idle_calls()

    assert many_open == nothing_open == ["changes"]  # one read of the change feed, no call per open alert


def test_an_invoice_paid_outside_settle_comes_in_through_the_feed(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    load(services, tmp_path, account("acme", "4000000000009995", channel="C0ACME", extra_cards=["4242424242424242"]))
    sandbox(services).bill()
    services.poller.run_cycle()
    sandbox(services).pay_invoice("in_acme_1", "pm_acme_2", idempotency_key="paid-at-the-provider")

    report = services.poller.run_cycle()

    assert report.paid == 1
    (msg,) = alert_messages(fake_slack, "C0ACME")
    assert msg["text"].startswith("Settled: Acme Corp paid €129.00") and "Settle balance" not in str(msg["blocks"])


@pytest.mark.parametrize(("state", "word"), [("voided", "voided"), ("uncollectible", "written off")])
def test_an_invoice_voided_or_written_off_outside_settle_closes_its_alert(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path, state: str, word: str
) -> None:
    load(services, tmp_path, account("acme", "4000000000009995", channel="C0ACME"))
    sandbox(services).bill()
    services.poller.run_cycle()
    sandbox(services).close_invoice("in_acme_1", state)  # type: ignore[arg-type]

    report = services.poller.run_cycle()

    assert report.closed == 1 and report.paid == 0
    (msg,) = alert_messages(fake_slack, "C0ACME")
    blocks = str(msg["blocks"])
    assert msg["text"] == f"Closed: nothing is owed by Acme Corp any more (1 {word})."
    assert "Settle balance" not in blocks and f"{word} in the billing system" in blocks
    with transaction(services.sessions) as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.state == "closed"
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == f"invoice_{state}")) is not None
    # the account's next decline opens a new alert: a closed one is over
    load(services, tmp_path, account("acme", "4000000000009995", channel="C0ACME", invoices=2))
    sandbox(services).bill()
    services.poller.run_cycle()
    assert len(alert_messages(fake_slack, "C0ACME")) == 2


def test_a_balance_partly_paid_and_partly_voided_says_both(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    load(
        services,
        tmp_path,
        account("acme", "4000000000009995", channel="C0ACME", invoices=2, extra_cards=["4242424242424242"]),
    )
    sandbox(services).bill()
    services.poller.run_cycle()
    sandbox(services).pay_invoice("in_acme_1", "pm_acme_2", idempotency_key="outside")
    sandbox(services).close_invoice("in_acme_2", "voided")

    services.poller.run_cycle()

    (msg,) = alert_messages(fake_slack, "C0ACME")
    assert msg["text"] == "Closed: nothing is owed by Acme Corp any more (1 voided, 1 paid)."


def test_voiding_a_paid_invoice_is_refused(services: Settle, tmp_path: Path) -> None:
    from bot.domain.errors import BillingError

    load(services, tmp_path, account("acme", "4242424242424242"))
    sandbox(services).bill()
    with pytest.raises(BillingError, match="is paid, not open"):
        sandbox(services).close_invoice("in_acme_1", "voided")


def test_a_storm_in_one_channel_becomes_one_digest_that_updates_when_a_balance_ends(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """15 renewals declined at once into one channel (digests after 10, the default): ten alerts,
    then one digest for the other five, edited in place when one of its balances ends (voided)."""
    accounts = [account(f"storm{i:02d}", "4000002500003155", channel="C0STORM") for i in range(15)]
    load(services, tmp_path, *accounts)
    sandbox(services).bill()
    services.poller.run_cycle()

    assert len(alert_messages(fake_slack, "C0STORM")) == 10
    messages = [
        m for m in fake_slack.messages("C0STORM") if (m.get("metadata") or {}).get("event_type") == "settle_message"
    ]
    (digest,) = messages
    text = json.dumps(digest["blocks"])
    assert "5" in digest["text"] and "Settle balance" in text
    with transaction(services.sessions) as s:
        members = list(s.scalars(select(Alert).where(Alert.digest_id.is_not(None)).order_by(Alert.id)))
        assert len(members) == 5 and all(a.ts is None for a in members)  # no message of their own
        voided = next(iter(members[0].invoices)).invoice_id
    sandbox(services).close_invoice(voided, "voided")
    services.poller.run_cycle()

    (edited,) = [
        m for m in fake_slack.messages("C0STORM") if (m.get("metadata") or {}).get("event_type") == "settle_message"
    ]
    assert edited.get("edits", 0) >= 1 and json.dumps(edited["blocks"]) != text
    assert len(alert_messages(fake_slack, "C0STORM")) == 10  # still one message for the five
