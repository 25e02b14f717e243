"""/slack/events verifies before it parses: no header or body can make it fail, and signed but
hostile payloads get a 4xx. The sandbox's pages take any bytes in a token as an invalid link."""

from __future__ import annotations

import json
import time

import pytest

from tests.handlers.test_settle_flow import ADMIN
from tests.harness import Harness
from tests.slack_requests import get, interactive_body, post, signed_headers

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def h(acme: Harness) -> Harness:
    return acme


def send(h: Harness, body: str, headers: dict[str, str]) -> int:
    return post(h.base + "/slack/events", body, headers)[0]


def click_payload(**overrides: object) -> dict[str, object]:
    return {
        "type": "block_actions",
        "user": {"id": ADMIN},
        "team": {"id": "T1"},
        "actions": [{"action_id": "settle_open", "value": "1"}],
        **overrides,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": FORM},
        {"Content-Type": FORM, "X-Slack-Signature": "v0=" + "0" * 64},
        {"Content-Type": FORM, "X-Slack-Request-Timestamp": "", "X-Slack-Signature": "v0=" + "0" * 64},
        {"Content-Type": FORM, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=" + "0" * 64},
        {"Content-Type": FORM, "X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=" + "0" * 64},
        {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é"},
    ],
    ids=["no-headers", "no-timestamp", "empty-timestamp", "word-timestamp", "huge-timestamp", "non-ascii-signature"],
)
def test_unverifiable_requests_get_401(h: Harness, headers: dict[str, str]) -> None:
    body = interactive_body(click_payload())
    assert send(h, body, {**headers}) == 401
    assert send(h, "x=1", {"Content-Type": FORM}) == 401  # curl -X POST -d x=1 …/slack/events
    assert h.fake.calls_to("views.open") == []


def test_header_values_that_are_not_ascii_get_401(h: Harness) -> None:
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(h.base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = interactive_body(click_payload()).encode()
    conn.putrequest("POST", "/slack/events")
    conn.putheader("Content-Type", FORM)
    conn.putheader("Content-Length", str(len(body)))
    conn.putheader("X-Slack-Request-Timestamp", "١٢٣٤".encode())  # Arabic-Indic digits: isdigit(), not int()
    conn.putheader("X-Slack-Signature", "v0=ü".encode("latin-1"))
    conn.endheaders(body)
    assert conn.getresponse().status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=" + "%5B" * 5000 + "%5D" * 5000, FORM),  # nested 5,000 deep
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        (interactive_body(click_payload()) + "&payload=%7B%7D", FORM),  # a second payload field
        ("{=1&payload=x", FORM),
        (interactive_body(click_payload(team=5)), FORM),
        (interactive_body(click_payload(user={"id": 5})), FORM),
        (interactive_body(click_payload(user={"id": "U" + "A" * 80})), FORM),
        (interactive_body(click_payload(channel="C1")), FORM),
        (interactive_body(click_payload(enterprise=[1])), FORM),
        (interactive_body(click_payload(actions=[{"action_id": 7}])), FORM),
        (json.dumps(click_payload(team_id=["T1"])), "application/json"),
        ("payload=%FF%FE", FORM),
    ],
    ids=[
        "deep-form",
        "deep-json",
        "duplicate-payload",
        "brace-form",
        "team-number",
        "user-id-number",
        "user-id-long",
        "channel-string",
        "enterprise-list",
        "action-id-number",
        "team-id-list",
        "not-utf8-payload",
    ],
)
def test_signed_but_hostile_payloads_get_400(h: Harness, body: str, content_type: str) -> None:
    assert send(h, body, signed_headers(body, content_type=content_type)) == 400
    assert send(h, body, {"Content-Type": content_type}) == 401  # and unsigned: 401, whatever it holds
    assert get(h.base + "/healthz")[0] == 200


def test_signed_submissions_with_hostile_state_get_an_answer(h: Harness) -> None:
    view_id = h.open_modal(ADMIN)
    for state in ("x", {"values": 5}, {"values": {"method": 5}}, {"values": {"method": {"method_choice": []}}}):
        view = {**h.view(view_id), "state": state}
        payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": ADMIN}, "view": view}
        status, text = post(h.base + "/slack/events", *_signed(interactive_body(payload)))
        assert status == 200 and "Pick a payment method" in text, (state, status, text)
    for option in (5, {"value": 5}, {"value": ["pm_acme_2"]}):
        values = {"method": {"method_choice": {"type": "radio_buttons", "selected_option": option}}}
        assert "Pick a payment method" in h.submit(view_id, ADMIN, values).body


def _signed(body: str) -> tuple[str, dict[str, str]]:
    return body, signed_headers(body)


@pytest.mark.parametrize(
    "value",
    [str(2**31), "9" * 5000, json.dumps({"k": "alert", "id": True}), json.dumps({"k": "alert", "id": 2**63})],
)
def test_out_of_range_references_are_stale_buttons(h: Harness, value: str) -> None:
    resp, _ = h.click(ADMIN, value=value)
    assert resp.status == 200
    from tests.harness import eventually

    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert "out of date" in eph[0].params["text"]
    assert h.fake.calls_to("views.open") == []


@pytest.mark.parametrize("token", ["1764000000.é", "é", "9" * 400 + ".x", "..", ""])
def test_sandbox_links_with_any_token_are_just_invalid(h: Harness, token: str) -> None:
    from urllib.parse import quote

    q = quote(token)
    assert get(f"{h.base}/sandbox/verify/1?token={q}")[0] == 403
    assert get(f"{h.base}/sandbox/cards/new?account=acme&ref=1%3AV1%3AU0ADMIN&token={q}")[0] == 403
    assert get(f"{h.base}/sandbox/verify/99999999999999?token={q}")[0] == 404  # beyond any id: not a page


def test_an_operator_is_told_why_requests_are_refused_once_a_minute(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong SLACK_SIGNING_SECRET makes every click a 401: the log says so, without the secret or
    the signature, and a flood of them is one line a minute per reason."""
    body = interactive_body(click_payload())
    wrong = signed_headers(body, secret="not-the-apps-secret")
    stale = signed_headers(body, timestamp=int(time.time()) - 3600)
    with caplog.at_level("WARNING", logger="bot.web.router"):
        for _ in range(20):
            assert send(h, body, wrong) == 401
        assert send(h, body, stale) == 401
        for minutes in range(10, 30):  # replays, each a different distance off: still one line
            assert send(h, body, signed_headers(body, timestamp=int(time.time()) - 60 * minutes)) == 401
    lines = [r.getMessage() for r in caplog.records if "refused (401)" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "does not match (is SLACK_SIGNING_SECRET the app's Signing Secret?)" in lines[0]
    assert "a stale timestamp (360" in lines[1] and "clock is wrong" in lines[1]
    text = caplog.text
    assert "not-the-apps-secret" not in text and wrong["X-Slack-Signature"] not in text


def test_the_public_url_says_what_it_is(h: Harness) -> None:
    status, page = get(h.base + "/")
    assert status == 200 and "<h1>Settle</h1>" in page and 'href="/healthz"' in page
    assert "Add Settle to Slack" not in page  # one bot token: nothing to install here
    assert get(h.base + "/nowhere")[0] == 404
