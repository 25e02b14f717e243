"""A seeded fuzz run against a real `settle serve`: over a thousand malformed, unsigned and
signed-but-hostile requests. None may get a 5xx or leave a traceback, and the server stays healthy."""

from __future__ import annotations

import copy
import http.client
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from tests.conftest import SIGNING_SECRET, account, run_cli, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import eventually, serve_process

SEED = 20261128
REQUESTS = 1100

HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, 2**31, 2**70, 1.5, "", "x" * 5000, "<!channel>", "١٢٣", "é\u202e", "\x00", [], {}, [[[[]]]],
    {"id": {"id": 5}}, "9" * 5000, '{"k":"alert","id":1}', '{"k":"batch","id":true}',
]  # fmt: skip


def click(alert_value: str, trigger: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U0ADMIN", "username": "admin", "team_id": "T1"},
        "team": {"id": "T1", "domain": "test"},
        "api_app_id": "A1",
        "token": "legacy",
        "channel": {"id": "C0ACME", "name": "billing"},
        "container": {"type": "message", "channel_id": "C0ACME", "message_ts": "1.2"},
        "trigger_id": trigger,
        "actions": [{"action_id": "settle_open", "block_id": "alert_actions", "type": "button", "value": alert_value}],
    }


def submission(callback: str, metadata: str) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": "U0ADMIN", "username": "admin", "team_id": "T1"},
        "team": {"id": "T1", "domain": "test"},
        "api_app_id": "A1",
        "trigger_id": "1.2.x",
        "view": {
            "id": "V00000001",
            "type": "modal",
            "callback_id": callback,
            "private_metadata": metadata,
            "hash": "h1",
            "state": {"values": {"method": {"method_choice": {"selected_option": {"value": "pm_acme_2"}}}}},
        },
    }


def mutate(rng: random.Random, payload: Any, depth: int = 0) -> Any:
    """Replace, drop or retype one random part of a payload."""
    if isinstance(payload, dict) and payload and depth < 6:
        key = rng.choice(list(payload))
        roll = rng.random()
        if roll < 0.15:
            payload.pop(key)
        elif roll < 0.55:
            payload[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        else:
            payload[key] = mutate(rng, payload[key], depth + 1)
        return payload
    if isinstance(payload, list) and payload and depth < 6:
        i = rng.randrange(len(payload))
        payload[i] = mutate(rng, payload[i], depth + 1)
        return payload
    return copy.deepcopy(rng.choice(HOSTILE_VALUES))


def sign(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    sig = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body.decode("utf-8", "replace"))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def request(rng: random.Random, n: int) -> tuple[str, str, bytes, dict[str, Any]]:
    """The n-th request of the run: (method, path, body, headers)."""
    form = "application/x-www-form-urlencoded"
    kind = n % 8
    if kind == 0:  # unsigned noise
        body = rng.randbytes(rng.randrange(0, 300))
        return "POST", "/slack/events", body, {"Content-Type": rng.choice([form, "application/json", "text/plain"])}
    if kind == 1:  # bad signature headers, as bytes a client may send
        body = interactive_body(click("1", "1.2.t")).encode()
        ts = rng.choice([b"", b"soon", b"-5", b"1e9", "١٢٣٤".encode(), b"9" * 60, str(int(time.time())).encode()])
        high = bytes(rng.randrange(0x80, 0x100) for _ in range(20))
        sig = rng.choice([b"", b"v0=", b"v0=" + b"0" * 64, "v0=é".encode(), b"v1=" + b"a" * 64, high])
        return (
            "POST",
            "/slack/events",
            body,
            {"Content-Type": form, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig},
        )
    if kind in (2, 3, 4):  # signed, hostile: a real payload with one part broken
        base = (
            click(str(rng.choice([1, 2, 999])), f"{n}.2.t")
            if kind != 4
            else submission(
                rng.choice(["settle_pick", "settle_confirm", "nope"]), rng.choice(['{"k":"alert","id":1}', "x", ""])
            )
        )
        payload = mutate(rng, base) if rng.random() < 0.9 else base
        if kind == 3 and rng.random() < 0.5:
            body = json.dumps(payload).encode()
            return "POST", "/slack/events", body, {"Content-Type": "application/json", **sign(body)}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        if rng.random() < 0.1:
            body += b"&payload=%7B%7D"
        return "POST", "/slack/events", body, {"Content-Type": form, **sign(body)}
    if kind == 5:  # signed, structurally broken bodies
        body = rng.choice(
            [
                b"{=1&payload=x",
                b"payload=" + b"%5B" * 3000,
                b"payload=" + quote(json.dumps({"type": rng.choice(HOSTILE_VALUES)})).encode(),
                rng.randbytes(64),
                b"command=%2Fsettle&text=" + quote("<!channel>").encode(),
                b"",
            ]
        )
        return "POST", "/slack/events", body, {"Content-Type": rng.choice([form, "application/json"]), **sign(body)}
    if kind == 6:  # the sandbox's pages
        token = quote(rng.choice(["", "1.2", "é", "9" * 300 + ".x", str(int(time.time()) + 99) + "." + "a" * 32]))
        path = rng.choice(
            [
                f"/sandbox/verify/{rng.choice(['1', '0', '99999999999', 'x', '%00'])}?token={token}",
                f"/sandbox/cards/new?account=acme&ref={quote(rng.choice(['1:V1:U0ADMIN', '²:V:U', '']))}&token={token}",
                f"/sandbox/invoices/{rng.choice(['in_acme_1', '%3Cscript%3E', 'x' * 300])}",
                "/sandbox/" + quote(rng.choice(HOSTILE_VALUES[8:12])),
            ]
        )
        body = rng.choice(
            [b"", b"number=4242424242424242&exp=12%2F99999999999", b"decision=approve", rng.randbytes(40)]
        )
        return rng.choice(["GET", "POST"]), path, body, {"Content-Type": form}
    # kind 7: other paths and methods
    return (
        rng.choice(["GET", "PUT", "DELETE", "POST"]),
        rng.choice(["/slack/events", "/healthz", "/", "/x" * 50]),
        b"",
        {},
    )


def interactive_body(payload: Any) -> str:
    return urlencode({"payload": json.dumps(payload)})


def send(base: str, method: str, path: str, body: bytes, headers: dict[str, Any]) -> int:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_thousand_hostile_requests_get_no_5xx(
    sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    run_cli(sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", [
        account("acme", "4000000000009995", channel="C0ACME", extra_cards=["4242424242424242"]),
    ])))  # fmt: skip
    run_cli(sqlite_env, "sandbox", "bill")
    log = tmp_path / "serve.log"
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    with serve_process({**sqlite_env, "POLL_INTERVAL_SECONDS": "1"}, log) as (base, proc):
        eventually(lambda: fake_slack.messages("C0ACME"), timeout=20)
        for n in range(REQUESTS):
            method, path, body, headers = request(rng, n)
            status = send(base, method, path, body, headers)
            statuses[status] += 1
            if status >= 500:
                failures.append(f"#{n} {method} {path[:80]} {body[:200]!r} -> {status}")
        time.sleep(0.5)  # listeners that acked may still be working
        assert proc.poll() is None
        assert send(base, "GET", "/healthz", b"", {}) == 200
    text = log.read_text()
    assert failures == [], "\n".join(failures[:20])
    assert "Traceback" not in text, text[text.find("Traceback") - 300 : text.find("Traceback") + 3000]
    assert sum(statuses.values()) >= 1000
    assert statuses[401] > 100 and statuses[400] > 100 and statuses[200] > 50, statuses
