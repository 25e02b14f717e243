"""`settle serve` as an attacker and an operator meet it: Socket Mode serves no forgeable endpoint,
outside text never pings anyone, SIGTERM finishes work under way, logs keep no link tokens."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import account, run_cli, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import eventually, serve_process
from tests.slack_requests import get, interactive_body, post, signed_headers

HOSTILE = "<!channel> <@U123> <https://evil.example|click>"


def load(env: dict[str, str], tmp_path: Path, *accounts: dict[str, Any]) -> None:
    run_cli(env, "sandbox", "load", str(write_accounts(tmp_path / "accounts.yml", list(accounts))))
    run_cli(env, "sandbox", "bill")


def settle_value(alert: dict[str, Any]) -> str:
    return str(
        next(
            e
            for b in alert["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "settle_open"
        )["value"]
    )


def forged_link(key: str, purpose: str, subject: str) -> str:
    expires = int(time.time()) + 600
    mac = hmac.new(key.encode(), f"{purpose}:{subject}:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac[:32]}"


def test_socket_mode_serves_nothing_that_can_be_forged(
    sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = {**sqlite_env, "SLACK_APP_TOKEN": "xapp-1-test", "SLACK_SIGNING_SECRET": ""}
    load(env, tmp_path, account("acme", "4000000000009995", extra_cards=["4242424242424242"]))
    log = tmp_path / "serve.log"
    with serve_process({**env, "POLL_INTERVAL_SECONDS": "1"}, log) as (base, _proc):
        eventually(lambda: fake_slack.messages("CALERTS"), timeout=20)
        payload = {
            "type": "block_actions",
            "user": {"id": "U0ADMIN"},
            "team": {"id": "T1"},
            "actions": [{"action_id": "settle_open", "value": "1"}],
            "trigger_id": "1.2.x",
        }
        body = interactive_body(payload)
        for secret in ("socket-mode-has-no-signing-secret", "", "test-signing-secret"):
            status, _ = post(base + "/slack/events", body, signed_headers(body, secret=secret) if secret else {})
            assert status == 404
        # the sandbox's links are signed with a key of its own, not a constant
        for key in ("settle-sandbox", "sandbox", ""):
            token = forged_link(key, "add_card", "acme:1:V1:U0ADMIN")
            form = "number=4000000000000002&exp=12%2F30&default=on"
            url = f"{base}/sandbox/cards/new?account=acme&ref=1%3AV1%3AU0ADMIN&token={token}"
            assert post(url, form, {"Content-Type": "application/x-www-form-urlencoded"})[0] == 403
    text = log.read_text()
    assert "/slack/events is not served" in text and "Socket Mode" in text
    assert fake_slack.calls_to("views.open") == []
    status = json.loads(run_cli(env, "sandbox", "status", "--json").stdout)
    assert len(status["accounts"][0]["invoices"][0]["attempts"]) == 1  # only the renewal


def markup_sent_to_slack(fake: FakeSlack) -> str:
    """Every string Slack parses as markup: message `text` and mrkdwn objects (plain_text is shown
    as it is, so a raw name there is right), in all calls, views included."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str) and node[:1] in "[{":
            with contextlib.suppress(ValueError):
                walk(json.loads(node))
        elif isinstance(node, dict):
            if node.get("type") == "plain_text":
                return
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    with fake.lock:
        walk([c.params for c in fake.calls])
    return "\n".join(found)


def test_outside_text_never_pings_anyone(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=["U0ADMIN"], extra_cards=["4242424242424242"])
    acc["name"] = HOSTILE
    acc["invoices"][0]["description"] = ""
    load(env, tmp_path, acc)
    log = tmp_path / "serve.log"
    with serve_process({**env, "POLL_INTERVAL_SECONDS": "1"}, log) as (base, _proc):
        alert = eventually(lambda: fake_slack.messages("C0ACME"), timeout=20)[0]
        trigger = fake_slack.new_trigger()
        for user in ("USTRANGER", "U0ADMIN"):  # a refusal (ephemeral) and the modal
            payload = {
                "type": "block_actions",
                "user": {"id": user},
                "team": {"id": "T1"},
                "channel": {"id": "C0ACME"},
                "container": {"type": "message", "channel_id": "C0ACME", "message_ts": alert["ts"]},
                "trigger_id": trigger,
                "actions": [{"action_id": "settle_open", "value": settle_value(alert)}],
            }
            body = interactive_body(payload)
            assert post(base + "/slack/events", body, signed_headers(body))[0] == 200
        eventually(lambda: fake_slack.calls_to("chat.postEphemeral"), timeout=10)
        view_id = eventually(lambda: fake_slack.view_by_trigger.get(trigger), timeout=10)
        eventually(lambda: fake_slack.views[view_id].get("callback_id") == "settle_pick", timeout=10)
    sent = markup_sent_to_slack(fake_slack)
    for markup in ("<!channel>", "<@U123>", "<https://evil.example"):
        assert markup not in sent, markup
    assert "&lt;!channel&gt;" in sent
    assert "<@U0ADMIN>" in sent  # mentions Settle means still work


def test_sigterm_lets_the_delivery_under_way_finish(env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    """`poll --once` is told to stop while Slack is taking its post: it records the post, exits 0."""
    from tests.conftest import spawn_cli

    load(env, tmp_path, account("acme", "4000000000000002"))
    posted = threading.Event()
    fake_slack.delay["chat.postMessage"] = 1.0
    fake_slack.on_post = lambda _msg: posted.set()
    proc = spawn_cli(env, "poll", "--once")
    sent = False
    while proc.poll() is None and not sent:
        if "chat.postMessage" in fake_slack.arrived:
            proc.send_signal(signal.SIGTERM)  # Slack is still "sleeping" on the post
            sent = True
        time.sleep(0.01)
    out, err = proc.communicate(timeout=30)
    assert sent and proc.returncode == 0, err
    assert "1 posted" in out
    assert "0 posted" in run_cli(env, "poll", "--once").stdout  # recorded: not posted again
    assert len(fake_slack.messages("CALERTS")) == 1


def test_serve_stops_cleanly_on_sigterm(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serve_process(sqlite_env, log) as (_base, proc):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert "stopping: finishing" in text and "stopped" in text and "Traceback" not in text
    assert "will be unused" not in text  # no warning at every start


def test_debug_logs_keep_no_link_token(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    load(sqlite_env, tmp_path, account("acme", "4000000000009995", channel="C0ACME", extra_cards=["4000002760003184"]))
    log = tmp_path / "serve.log"
    with serve_process({**sqlite_env, "POLL_INTERVAL_SECONDS": "1"}, log, "-v") as (base, _proc):
        alert = eventually(lambda: fake_slack.messages("C0ACME"), timeout=20)[0]
        trigger = fake_slack.new_trigger()
        payload = {
            "type": "block_actions",
            "user": {"id": "U0ADMIN"},
            "team": {"id": "T1"},
            "channel": {"id": "C0ACME"},
            "trigger_id": trigger,
            "token": "verification-token-value",
            "actions": [{"action_id": "settle_open", "value": settle_value(alert)}],
        }
        body = interactive_body(payload)
        assert post(base + "/slack/events", body, signed_headers(body))[0] == 200
        view_id = eventually(lambda: fake_slack.view_by_trigger.get(trigger), timeout=10)
        view = eventually(
            lambda: fake_slack.views[view_id] if fake_slack.views[view_id].get("callback_id") == "settle_pick" else None
        )
        url = next(e["url"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url"))
        token = parse_qs(urlsplit(url).query)["token"][0]
        assert get(url.replace("http://settle.test", base))[0] == 200
        time.sleep(0.3)
    text = log.read_text()
    assert f"opened for alert {settle_value(alert)} by U0ADMIN" in text  # one INFO line per step, with ids
    assert "DEBUG" in text and token.split(".")[1] not in text
    assert "verification-token-value" not in text and "xoxb-test" not in text
    assert signed_headers(body)["X-Slack-Signature"][3:] not in text


def test_sigterm_mid_fan_out_exits_within_ten_seconds(
    sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Twelve alerts for one channel take twelve seconds at Slack's pace. SIGTERM after the first
    post: the post under way is recorded, no new one starts, the process exits 0 within 10 s, and
    the next poll posts the rest, each alert once."""
    from collections import Counter

    from tests.conftest import account

    load(sqlite_env, tmp_path, *[account(f"acct{i:02d}", "4000000000000002", channel="C0ONE") for i in range(12)])
    log = tmp_path / "serve.log"
    paced = {
        **sqlite_env,
        "POLL_INTERVAL_SECONDS": "1",
        "SLACK_CHANNEL_INTERVAL_SECONDS": "1",
        "SETTLE_DIGEST_AFTER": "0",  # twelve alerts, each its own message (no digest)
    }
    with serve_process(paced, log) as (_base, proc):
        eventually(lambda: len(fake_slack.messages("C0ONE")) >= 2, timeout=30)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        took = time.monotonic() - stopped_at
    assert took < 10, f"took {took:.1f} s to stop"
    posted_before = len(fake_slack.messages("C0ONE"))
    assert posted_before < 12
    run_cli({**sqlite_env, "SETTLE_DIGEST_AFTER": "0"}, "poll", "--once")
    per_alert = Counter(m["metadata"]["event_payload"]["alert_id"] for m in fake_slack.messages("C0ONE"))
    assert len(per_alert) == 12 and set(per_alert.values()) == {1}
    assert "Traceback" not in log.read_text()


def test_a_port_in_use_is_one_line_before_anything_starts(sqlite_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(sqlite_env, "serve", "--host", "127.0.0.1", "--port", str(port), check=False, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
    assert "listening on" not in done.stderr and "poll" not in done.stderr.lower()
