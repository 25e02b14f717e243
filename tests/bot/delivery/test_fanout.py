"""Fan-out: channels paced one by one, posted concurrently, each alert once, against a fake Slack
that enforces a per-channel limit the way Slack does (429 with Retry-After in whole seconds)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.app import Settle, build
from bot.balances.ingest import IngestReport
from bot.billing.sandbox.provider import SandboxProvider
from bot.settings import Settings
from bot.slack.gateway import WebSlackGateway
from bot.slack.pacing import ChannelPacer
from tests.conftest import account, load_accounts, write_accounts
from tests.fake_slack import FakeSlack

INTERVAL = 0.25  # the per-channel limit in these tests (Slack's is 1 s), so they stay fast


@pytest.fixture
def services(env: dict[str, str]) -> Settle:
    svc = build(Settings())
    assert isinstance(svc.gateway, WebSlackGateway)
    svc.gateway.pacer.interval = INTERVAL
    yield svc
    svc.close()


def declined(services: Settle, tmp_path: Path, per_channel: dict[str, int]) -> None:
    accounts = [
        account(f"{channel.lower()}{i}", "4000000000009995", channel=channel)
        for channel, n in per_channel.items()
        for i in range(n)
    ]
    load_accounts(services, write_accounts(tmp_path / "accounts.yml", accounts))
    assert isinstance(services.provider, SandboxProvider)
    services.provider.bill()
    services.ingest.read_feed(IngestReport())


def posts_by_alert(fake: FakeSlack) -> Counter[int]:
    return Counter(
        m["metadata"]["event_payload"]["alert_id"]
        for m in fake.messages()
        if (m.get("metadata") or {}).get("event_type") == "settle_alert"
    )


def test_channels_are_posted_concurrently_within_their_limit(
    services: Settle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.channel_interval = INTERVAL
    declined(services, tmp_path, {"CA": 3, "CB": 3, "CC": 3, "CD": 3})

    report = services.fanout.deliver_all()

    assert report.posted == 12 and not report.failed
    assert set(posts_by_alert(fake_slack).values()) == {1} and len(posts_by_alert(fake_slack)) == 12
    assert not fake_slack.throttled, f"429s: {dict(fake_slack.throttled)}"
    posts = fake_slack.calls_to("chat.postMessage")
    first_round = sorted(c.at for c in posts)[:4]
    # the four channels' first posts go together, not one channel's limit after another
    assert {c.params["channel"] for c in posts if c.at <= first_round[-1]} == {"CA", "CB", "CC", "CD"}
    for channel in ("CA", "CB", "CC", "CD"):
        times = sorted(c.at for c in posts if c.params["channel"] == channel)
        assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times)), (channel, times)


def test_a_429_holds_back_only_its_channel(services: Settle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Another replica posted to CA a moment ago: Slack answers 429 for CA once, Settle waits out its
    Retry-After for CA alone, and CB's alerts go out meanwhile."""
    fake_slack.channel_interval = INTERVAL
    declined(services, tmp_path, {"CA": 2, "CB": 3})
    fake_slack.last_post["CA"] = time.monotonic()

    report = services.fanout.deliver_all()

    assert report.posted == 5 and not report.failed
    assert fake_slack.throttled == Counter({"CA": 1})
    assert set(posts_by_alert(fake_slack).values()) == {1}
    posts = fake_slack.calls_to("chat.postMessage")
    refused_at = min(c.at for c in posts if c.params["channel"] == "CA")  # the 429
    ca_posted = [c.at for c in posts if c.params["channel"] == "CA" and c.at > refused_at]
    cb_posted = [c.at for c in posts if c.params["channel"] == "CB"]
    assert len(ca_posted) == 2 and len(cb_posted) == 3
    assert min(ca_posted) - refused_at >= 1.0  # Retry-After: 1, honoured for CA
    assert max(cb_posted) < min(ca_posted)  # CB did not wait for CA


def test_pacer_counts_from_slacks_answer_and_honours_retry_after() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = ChannelPacer(interval=1.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait("C1")
    now[0] += 0.3  # Slack took 0.3 s to answer
    pacer.sent("C1")
    pacer.wait("C2")  # another channel does not wait
    pacer.wait("C1")
    assert slept == [pytest.approx(1.0)]  # one interval after the answer (at 100.3), not after the send
    pacer.hold("C2", 5)
    assert pacer.ready_at("C2") == pytest.approx(now[0] + 5)
    assert pacer.ready_at("C1") < pacer.ready_at("C2")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2", 2.0), ("0.5", 0.5), ("99999", 60.0), ("-5", 0.0), ("soon", 1.0), (None, 1.0)],
)
def test_a_hostile_or_missing_retry_after_is_bounded(header: str | None, seconds: float) -> None:
    """A proxy or a broken Slack answer cannot park a channel for a day, nor make Settle spin."""
    from bot.slack.client import _retry_after

    assert _retry_after({"Retry-After": [header]} if header is not None else {}) == seconds
