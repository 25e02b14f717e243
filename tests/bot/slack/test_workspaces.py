"""Many workspaces (OAuth): Settle installed through /slack/install and /slack/oauth_redirect against
the fake Slack's oauth.v2.access, each account's alerts posted in its own workspace with that
workspace's token, requests of one workspace kept away from another's balances, and uninstall."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
import yaml
from sqlalchemy import select

from bot.settings import Settings
from bot.slack.workspaces import BOT_SCOPES
from storage.db import reading
from storage.models import Alert, AuditEvent
from storage.models.workspaces import slack_bots, slack_installations
from storage.token_cipher import new_key
from tests.conftest import ROOT, account, load_accounts, run_cli, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import Harness, eventually, running_server, serve_process
from tests.slack_requests import post, signed_headers

STATE_COOKIE = "slack-app-oauth-state"
TOKEN_KEY = new_key()
ADMIN2, ADMIN3 = "U0ADMIN2", "U0ADMIN3"


@pytest.fixture
def oauth_env(env: dict[str, str], fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    client_id, secret = fake_slack.client_credentials
    monkeypatch.setenv("SLACK_CLIENT_ID", client_id)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", secret)
    fake_slack.install_codes = {"code-T2": "T2", "code-T3": "T3"}
    monkeypatch.setenv("SETTLE_ADMINS", "")  # each workspace's own admins only
    monkeypatch.setenv("SETTLE_TOKEN_KEYS", TOKEN_KEY)
    return {**env, "SLACK_CLIENT_ID": client_id, "SLACK_CLIENT_SECRET": secret, "SETTLE_TOKEN_KEYS": TOKEN_KEY}


@pytest.fixture
def h(oauth_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[Harness]:
    with running_server() as (base, services):
        yield Harness(base, fake_slack, services, team="T2")


def fetch(base: str, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, str]:
    """One request, redirects not followed (http.client), as a browser's first hop."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read().decode()
    finally:
        conn.close()


def start_install(base: str) -> tuple[str, dict[str, list[str]]]:
    """/slack/install: the state cookie, and the query of the "Add to Slack" link on the page."""
    status, headers, body = fetch(base, "/slack/install")
    assert status == 200, body
    cookie = headers["Set-Cookie"]
    state = re.search(rf"{STATE_COOKIE}=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    assert "HttpOnly" in cookie and "Secure" in cookie
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', body).group(1)  # type: ignore[union-attr]
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    return state, query


def install(h: Harness, code: str) -> str:
    state, _ = start_install(h.base)
    status, _, body = fetch(
        h.base,
        f"/slack/oauth_redirect?{urlencode({'code': code, 'state': state})}",
        {"Cookie": f"{STATE_COOKIE}={state}"},
    )
    assert status == 200, body
    return body


def two_workspaces(h: Harness, tmp_path: Path) -> None:
    """T2 and T3 install Settle; one account in each, each declined."""
    install(h, "code-T2")
    install(h, "code-T3")
    accounts = [
        {**account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN2]), "slack_team": "T2"},
        {**account("bolt", "4000000000000002", channel="C0BOLT", admins=[ADMIN3]), "slack_team": "T3"},
    ]
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", accounts))
    h.sandbox.bill()
    h.services.poller.run_cycle()


def audit_actions(h: Harness) -> list[str]:
    with reading(h.services.sessions) as s:
        return [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_install_round_trip_stores_the_workspace_token(h: Harness) -> None:
    state, query = start_install(h.base)
    assert query["client_id"] == [h.fake.client_credentials[0]]
    assert query["scope"] == [",".join(BOT_SCOPES)]
    assert query["redirect_uri"] == ["http://settle.test/slack/oauth_redirect"]
    assert query["state"] == [state]

    status, _, page = fetch(
        h.base, f"/slack/oauth_redirect?code=code-T2&state={state}", {"Cookie": f"{STATE_COOKIE}={state}"}
    )
    assert status == 200, page
    assert "slack://app?team=T2&amp;id=A0SETTLE" in page  # back into Slack, in the workspace just installed
    assert "Settle is installed in Team T2" in page
    exchange = h.fake.calls_to("oauth.v2.access")
    assert [c.params["code"] for c in exchange] == ["code-T2"]
    token = next(t for t, team in h.fake.tokens.items() if team == "T2")
    bot = h.services.workspaces.store.find_bot(enterprise_id=None, team_id="T2")  # type: ignore[union-attr]
    assert bot is not None and bot.bot_token == token and bot.bot_user_id == "UBOTT2"
    assert h.services.workspaces.installed() == {"T2"}
    assert "workspace_installed" in audit_actions(h)

    # the same callback again (a reload, or a stolen link): the state was good once
    status, _, _ = fetch(
        h.base, f"/slack/oauth_redirect?code=code-T2&state={state}", {"Cookie": f"{STATE_COOKIE}={state}"}
    )
    assert 400 <= status < 500
    assert len(h.fake.calls_to("oauth.v2.access")) == 1


def test_forged_or_hostile_callbacks_install_nothing(h: Harness) -> None:
    state, _ = start_install(h.base)
    forged = [
        "/slack/oauth_redirect?code=code-T2&state=forged",  # no cookie, unknown state
        f"/slack/oauth_redirect?code=code-T2&state={state}",  # a real state, but not this browser's cookie
        "/slack/oauth_redirect?code=code-T2&state=%FF%FE",  # bytes that are not UTF-8
        "/slack/oauth_redirect",
    ]
    for path in forged:
        status, _, page = fetch(h.base, path, {"Cookie": f"{STATE_COOKIE}=forged"})
        assert 400 <= status < 500, (path, status)
    # Cancel on Slack's page comes back as error=...: a page that says so, the text escaped
    status, _, page = fetch(h.base, "/slack/oauth_redirect?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x")
    assert status == 200 and "<script>alert(1)" not in page
    assert h.fake.calls_to("oauth.v2.access") == []
    assert h.services.workspaces.installed() == frozenset()
    status, headers, _ = fetch(h.base, "/slack/install", method="POST")
    assert status == 405 and headers["Allow"] == "GET"

    # a code Slack does not know (expired, or for another app): a failure page, nothing stored
    status, _, _ = fetch(
        h.base, f"/slack/oauth_redirect?code=bogus&state={state}", {"Cookie": f"{STATE_COOKIE}={state}"}
    )
    assert status >= 400
    assert h.services.workspaces.installed() == frozenset()


def test_a_hostile_workspace_name_is_shown_as_text(h: Harness, oauth_env: dict[str, str]) -> None:
    h.fake.team_names["T2"] = '<script>alert(1)</script> <!channel> "Acme" & Co'
    page = install(h, "code-T2")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt;" in page
    listed = run_cli(oauth_env, "workspaces").stdout
    assert "T2  <script>alert(1)</script> <!channel>" in listed  # a terminal shows text as text


def stored_tokens(h: Harness) -> list[str]:
    with h.services.engine.connect() as conn:
        return [
            t
            for table in (slack_bots, slack_installations)
            for t in conn.execute(select(table.c.bot_token)).scalars()
            if t
        ]


def test_bot_tokens_are_stored_encrypted_and_rotate_to_a_new_key(
    h: Harness, oauth_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(h, "code-T2")
    stored = stored_tokens(h)
    assert stored and all(t.startswith("enc1:") and "xoxb" not in t for t in stored)
    issued = [t for t, team in h.fake.tokens.items() if team == "T2"]
    assert issued and not any(i in t for i in issued for t in stored)
    # an install from before encryption: its token is read as it was stored, then sealed by rotate-key
    with h.services.engine.begin() as conn:
        conn.execute(slack_bots.update().values(bot_token=issued[0]))

    new = new_key()
    rotated = {**oauth_env, "SETTLE_TOKEN_KEYS": f"{new},{TOKEN_KEY}"}
    assert "rows encrypted" in run_cli(rotated, "workspaces", "rotate-key").stdout
    after = stored_tokens(h)
    assert all(t.startswith("enc1:") for t in after) and after != stored
    # the old key dropped: Settle still posts with the token, opened with the new key alone
    monkeypatch.setenv("SETTLE_TOKEN_KEYS", new)
    with running_server() as (_base, services):
        assert services.workspaces.client("T2").token == issued[0]
    # and with neither key, nothing opens: one line from the CLI, no traceback
    failed = run_cli({**oauth_env, "SETTLE_TOKEN_KEYS": new_key()}, "workspaces", "rotate-key", check=False)
    assert failed.returncode == 1 and "none of SETTLE_TOKEN_KEYS" in failed.stderr and "Traceback" not in failed.stderr


def test_oauth_without_a_token_key_is_refused_at_start(
    oauth_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SETTLE_TOKEN_KEYS")
    with pytest.raises(ValueError, match="SETTLE_TOKEN_KEYS is not set"):
        Settings()
    monkeypatch.setenv("SETTLE_TOKEN_KEYS", "not-a-key")
    with pytest.raises(ValueError, match="Fernet key"):
        Settings()


def test_each_workspace_gets_its_own_alerts_with_its_own_token(h: Harness, tmp_path: Path) -> None:
    two_workspaces(h, tmp_path)
    [acme] = [m for m in h.fake.messages("C0ACME") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]
    [bolt] = [m for m in h.fake.messages("C0BOLT") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]
    assert (acme["team"], bolt["team"]) == ("T2", "T3")
    with reading(h.services.sessions) as s:
        assert {a.account_id: a.team_id for a in s.scalars(select(Alert))} == {"acme": "T2", "bolt": "T3"}

    # T2's admin settles in T2: the modal opens with T2's token
    view_id = h.open_modal(ADMIN2)
    assert "Acme Corp" in h.view_text(view_id)
    assert {c.team for c in h.fake.calls_to("views.open")} == {"T2"}

    # the same button value clicked from T3 (a forged or copied payload): T3 has no such balance
    t3 = Harness(h.base, h.fake, h.services, team="T3")
    opened = len(h.fake.calls_to("views.open"))
    resp, _ = t3.click(ADMIN2)
    assert resp.status == 200
    told = eventually(lambda: [c for c in h.fake.calls_to("chat.postEphemeral") if c.team == "T3"])
    assert told[0].params["text"] == "This alert or its invoice no longer exists. Nothing was charged."
    assert len(h.fake.calls_to("views.open")) == opened  # no modal, nothing of Acme shown in T3
    assert audit_actions(h).count("settle_form_opened") == 1  # T2's own, only

    # /settle in T3 lists T3's balance only, and never names T2's account
    resp, _ = t3.command(ADMIN3, "acme")
    assert "Acme" not in resp.body
    assert not [c for c in h.fake.calls if c.team == "T3" and "Acme" in str(c.params)]

    # one auth.test per install (Bolt's, for the bot's id); Bolt's check of each request reads the bot
    # from Settle's cache: no Slack call before the ack
    assert sorted(c.team for c in h.fake.calls_to("auth.test")) == ["T2", "T3"]


def test_uninstall_holds_that_workspace_alerts_until_it_installs_again(h: Harness, tmp_path: Path) -> None:
    two_workspaces(h, tmp_path)
    resp = h.event({"type": "app_uninstalled"})  # from T2
    assert resp.status == 200
    eventually(lambda: h.services.workspaces.installed() == {"T3"}, message="T2's token kept")
    assert h.services.workspaces.store.find_bot(enterprise_id=None, team_id="T2") is None  # type: ignore[union-attr]
    assert "workspace_uninstalled" in audit_actions(h)

    # both accounts are declined again: T3's alert is updated, T2's waits and costs no Slack call
    h.sandbox.bill()
    calls = len(h.fake.calls)
    h.services.poller.run_cycle()
    assert not [c for c in h.fake.calls[calls:] if c.team != "T3"]
    with reading(h.services.sessions) as s:
        alerts = {a.account_id: a for a in s.scalars(select(Alert))}
        assert alerts["acme"].synced_version < alerts["acme"].version
        assert alerts["bolt"].synced_version == alerts["bolt"].version

    # T3 revokes its token in Slack and no event reaches us: its calls fail, T2 (back) goes on
    h.fake.revoked.update(t for t, team in h.fake.tokens.items() if team == "T3")
    fake_codes = {"code-T2-again": "T2"}
    h.fake.install_codes.update(fake_codes)
    install(h, "code-T2-again")
    h.sandbox.bill()
    h.services.poller.run_cycle()
    [acme] = [m for m in h.fake.messages("C0ACME") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]
    assert acme["team"] == "T2" and acme.get("edits", 0) >= 1  # the waiting update, with the new token
    with reading(h.services.sessions) as s:
        alerts = {a.account_id: a for a in s.scalars(select(Alert))}
        assert alerts["acme"].synced_version == alerts["acme"].version
        assert alerts["bolt"].synced_version < alerts["bolt"].version  # waits for T3, not lost


def test_one_bot_token_stays_the_default(env: dict[str, str], fake_slack: FakeSlack) -> None:
    with running_server() as (base, services):
        assert not services.workspaces.multi
        assert fetch(base, "/slack/install")[0] == 404
        assert fetch(base, "/slack/oauth_redirect?code=x&state=y")[0] == 404


def test_client_id_without_secret_or_in_socket_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_CLIENT_ID", "1111.2222")
    monkeypatch.delenv("SLACK_CLIENT_SECRET", raising=False)
    with pytest.raises(ValueError, match="both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"):
        Settings()
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")  # Socket Mode: no URL for Slack's redirect
    with pytest.raises(ValueError, match="OAuth install needs HTTP mode"):
        Settings()


def test_scopes_asked_for_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert manifest["oauth_config"]["redirect_urls"] == ["https://settle.example.com/slack/oauth_redirect"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])


def test_with_one_workspace_installed_accounts_need_no_mapping(h: Harness, tmp_path: Path) -> None:
    install(h, "code-T2")
    acc = account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN2])  # no slack_team
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", [acc]))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    [alert] = [m for m in h.fake.messages("C0ACME") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]
    assert alert["team"] == "T2"
    view_id = h.open_modal(ADMIN2)
    assert "Acme Corp" in h.view_text(view_id)


def test_requests_from_a_workspace_that_never_installed_change_nothing(h: Harness, tmp_path: Path) -> None:
    two_workspaces(h, tmp_path)
    stranger = Harness(h.base, h.fake, h.services, team="T9")
    calls = len(h.fake.calls)
    resp, _ = stranger.click(ADMIN2)
    assert resp.status in (200, 401)
    resp = stranger.event({"type": "app_uninstalled"})
    assert resp.status in (200, 401)
    assert h.fake.calls[calls:] == []  # Bolt found no token for T9: no Slack call was made for it
    assert h.services.workspaces.installed() == {"T2", "T3"}
    assert "settle_form_opened" not in audit_actions(h)


def test_settle_serve_starts_with_client_credentials_and_no_bot_token(
    oauth_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in oauth_env.items() if k != "SLACK_BOT_TOKEN"}
    with serve_process(env, tmp_path / "serve.log") as (base, _proc):
        status, _, page = fetch(base, "/slack/install")
        assert status == 200 and "Add to Slack" in page
    assert "installable into many workspaces" in (tmp_path / "serve.log").read_text()


def test_app_home_shows_each_workspace_its_own_balances(h: Harness, tmp_path: Path) -> None:
    two_workspaces(h, tmp_path)
    t3 = Harness(h.base, h.fake, h.services, team="T3")
    assert "Acme Corp" in str(h.open_home(ADMIN2))
    home3 = str(t3.open_home(ADMIN3))
    assert "Bolt Corp" in home3 and "Acme" not in home3
    assert {c.team for c in h.fake.calls_to("views.publish")} == {"T2", "T3"}

    # a balance changes: each open Home is published again, in its own workspace
    published = len(h.fake.calls_to("views.publish"))
    h.services.home.publish_all()
    again = h.fake.calls_to("views.publish")[published:]
    assert {(c.params["user_id"], c.team) for c in again} == {(ADMIN2, "T2"), (ADMIN3, "T3")}


def test_settle_workspaces_lists_the_installs_for_mapping(
    h: Harness, oauth_env: dict[str, str], tmp_path: Path
) -> None:
    assert "installed in no workspace yet" in run_cli(oauth_env, "workspaces").stdout
    two_workspaces(h, tmp_path)
    lines = run_cli(oauth_env, "workspaces").stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["T2", "T3"]
    assert "Team T2" in lines[0] and lines[0].endswith("accounts 1  channel CALERTS (SETTLE_ALERT_CHANNEL)")
    run_cli(oauth_env, "accounts", "map", "bolt", "--team", "T2")
    assert "accounts 2  " in run_cli(oauth_env, "workspaces").stdout.splitlines()[0]
    bad = run_cli(oauth_env, "accounts", "map", "bolt", "--team", "<!channel>", check=False)
    assert bad.returncode != 0 and "not a Slack workspace id" in bad.stderr


def test_each_workspace_has_its_own_default_channel(h: Harness, oauth_env: dict[str, str], tmp_path: Path) -> None:
    install(h, "code-T2")
    install(h, "code-T3")
    run_cli(oauth_env, "workspaces", "channel", "T3", "C0T3BILLING")
    accounts = [  # no channel of their own
        {**account("acme", "4000000000009995", admins=[ADMIN2]), "slack_team": "T2"},
        {**account("bolt", "4000000000000002", admins=[ADMIN3]), "slack_team": "T3"},
    ]
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", accounts))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    [t2] = [
        m for m in h.fake.messages("CALERTS") if (m.get("metadata") or {}).get("event_type") == "settle_alert"
    ]  # SETTLE_ALERT_CHANNEL
    [t3] = [m for m in h.fake.messages("C0T3BILLING") if (m.get("metadata") or {}).get("event_type") == "settle_alert"]
    assert (t2["team"], t3["team"]) == ("T2", "T3")
    assert run_cli(oauth_env, "workspaces").stdout.splitlines()[1].endswith("channel C0T3BILLING")
    for bad in (["T3", "<!channel>"], ["<!here>", "C0T3BILLING"]):
        refused = run_cli(oauth_env, "workspaces", "channel", *bad, check=False)
        assert refused.returncode != 0 and "is not a Slack" in refused.stderr
    assert "workspace_channel_set" in audit_actions(h)


def test_an_escalation_goes_to_its_workspace_channel(h: Harness, oauth_env: dict[str, str], tmp_path: Path) -> None:

    two_workspaces(h, tmp_path)  # acme in T2 (#C0ACME), bolt in T3 (#C0BOLT)
    run_cli(oauth_env, "workspaces", "channel", "T3", "C0T3BILLING")
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=73), tick=True):
        h.services.poller.run_cycle()
        h.services.poller.run_cycle()
    [t3] = [m for m in h.fake.messages("C0T3BILLING") if m["text"].startswith("🚨")]
    assert "*Bolt Corp* still owes" in t3["text"] and t3["team"] == "T3"
    [t2] = [m for m in h.fake.messages("CALERTS") if m["text"].startswith("🚨")]  # T2 has none: the default
    assert "*Acme Corp* still owes" in t2["text"] and t2["team"] == "T2"


def test_outsize_and_markup_in_every_outside_field_of_the_install(h: Harness) -> None:
    """5,000 characters and markup where a browser or Slack puts them: the query of both pages and
    the workspace name oauth.v2.access gives. A clear page each time; nothing stored but a good install."""
    big = "<!channel><script>x</script>" + "A" * 5000
    for path in (
        "/slack/install?" + urlencode({"team": big}),
        "/slack/oauth_redirect?" + urlencode({"code": big, "state": big}),
        "/slack/oauth_redirect?" + urlencode({"error": big, "state": big}),
    ):
        status, _, page = fetch(h.base, path, {"Cookie": f"{STATE_COOKIE}={big}"})
        assert status < 500, (path[:40], status)
        assert "<script>x" not in page and "<!channel>" not in page
    assert h.fake.calls_to("oauth.v2.access") == []

    h.fake.team_names["T2"] = big  # far beyond what slack_sdk's team_name column holds (200)
    page = install(h, "code-T2")  # installed, the name clipped to the column
    assert "<script>x" not in page and "<!channel>" not in page and "&lt;!channel&gt;" in page
    assert h.services.workspaces.bot("T2").bot_token  # type: ignore[union-attr]

    # an id no column holds (PostgreSQL refuses it): a page saying so, never a bare 500
    h.fake.install_codes["code-long"] = "T" + "A" * 5000
    state, _ = start_install(h.base)
    status, _, page = fetch(
        h.base, f"/slack/oauth_redirect?code=code-long&state={state}", {"Cookie": f"{STATE_COOKIE}={state}"}
    )
    if h.services.settings.database_url.startswith("postgresql"):
        assert status == 503 and "Settle could not save the install" in page, status
        assert "T" + "A" * 5000 not in h.services.workspaces.installed()
    else:  # SQLite does not hold strings to their column's length
        assert status == 200, status


def test_an_unsigned_or_stale_uninstall_removes_nothing(h: Harness) -> None:
    install(h, "code-T2")
    body = json.dumps({"type": "event_callback", "team_id": "T2", "event": {"type": "app_uninstalled"}})
    unsigned = {"Content-Type": "application/json"}
    stale = signed_headers(body, timestamp=int(time.time()) - 3600, content_type="application/json")
    forged = {**signed_headers(body, content_type="application/json"), "X-Slack-Signature": "v0=" + "0" * 64}
    for headers in (unsigned, stale, forged):
        assert post(h.base + "/slack/events", body, headers)[0] == 401
    assert (
        post(h.base + "/slack/events", "{not json", signed_headers("{not json", content_type="application/json"))[0]
        == 400
    )
    assert h.services.workspaces.installed() == {"T2"}
    assert "workspace_uninstalled" not in audit_actions(h)


def test_the_monthly_report_goes_to_each_workspace_with_its_own_figures(h: Harness, tmp_path: Path) -> None:
    """Two workspaces: each gets its own month's report, once, in its own channel, with only its own
    accounts' figures; a failed post in one is tried again and never holds back the other."""
    install(h, "code-T2")
    install(h, "code-T3")
    accounts = [
        {**account("acme", "4000000000009995", channel="C0ACME", admins=[ADMIN2]), "slack_team": "T2"},
        {
            **account("bolt", "4000000000000002", channel="C0BOLT", admins=[ADMIN3], currency="USD", amount="77.00"),
            "slack_team": "T3",
        },
    ]
    load_accounts(h.services, write_accounts(tmp_path / "accounts.yml", accounts))
    h.sandbox.bill()
    h.services.poller.run_cycle()
    run_cli({}, "workspaces", "channel", "T2", "C0T2ALERTS")
    run_cli({}, "workspaces", "channel", "T3", "C0T3ALERTS")
    next_month = (datetime.now(UTC).replace(day=28) + timedelta(days=5)).replace(day=1, hour=6)
    h.fake.errors["files.completeUploadExternal"] = "internal_error"  # the first upload fails
    with time_machine.travel(next_month, tick=True):
        first = h.services.poller.run_cycle()
        second = h.services.poller.run_cycle()  # the failed one is posted again; nothing is built again
    month = (next_month - timedelta(days=2)).strftime("%Y-%m")
    assert sorted(first.monthly_reports) == [f"{month} in T2", f"{month} in T3"] and second.monthly_reports == []
    assert len(first.delivery.failed) == 1 and not second.delivery.failed
    by_channel = {f["channel"]: f for f in h.fake.files}
    assert set(by_channel) == {"C0T2ALERTS", "C0T3ALERTS"}
    t2, t3 = by_channel["C0T2ALERTS"]["comment"], by_channel["C0T3ALERTS"]["comment"]
    assert "€129.00" in t2 and "$77.00" not in t2  # each workspace sees its own accounts only
    assert "$77.00" in t3 and "129.00" not in t3
    uploads = [c for c in h.fake.calls_to("files.completeUploadExternal")]
    tried = sorted(c.team for c in uploads)
    assert tried in (["T2", "T2", "T3"], ["T2", "T3", "T3"])  # each once, and the one that failed again
    assert len(h.fake.files) == 2
    assert audit_actions(h).count("monthly_report_posted") == 2
