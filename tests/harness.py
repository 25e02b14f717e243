"""Drive Settle as Slack would: signed block_actions and view_submission payloads to the real endpoint,
with the fake Slack holding the views a user sees."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import waitress
from sqlalchemy import select

from bot.app import Settle, build
from bot.billing.sandbox.models import SandboxAttempt
from bot.billing.sandbox.provider import SandboxProvider
from bot.settings import Settings
from storage.db import transaction
from storage.models import Alert, AlertInvoice, AuditEvent
from tests.fake_slack import FakeSlack
from tests.slack_requests import interactive_body, post, signed_headers


def eventually(check: Callable[[], Any], timeout: float = 10, message: str = "condition never held") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)


@dataclass
class Response:
    status: int
    body: str
    acked_after: float = 0.0  # seconds until Slack's request was answered (a command's ack)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Harness:
    def __init__(self, base: str, fake: FakeSlack, services: Settle, team: str = "T1") -> None:
        self.base = base
        self.fake = fake
        self.services = services
        self.team = team  # the workspace Slack's requests come from

    @property
    def sandbox(self) -> SandboxProvider:
        assert isinstance(self.services.provider, SandboxProvider)
        return self.services.provider

    # --- what Slack sends ------------------------------------------------------------------------

    def send(self, payload: dict[str, Any]) -> Response:
        body = interactive_body(payload)
        status, text = post(self.base + "/slack/events", body, signed_headers(body))
        return Response(status, text)

    def event(self, event: dict[str, Any], **envelope: Any) -> Response:
        """A signed Events API callback (JSON), as Slack delivers one (`envelope`: more top-level fields)."""
        body = json.dumps(
            {
                **envelope,
                "token": "legacy",
                "team_id": self.team,
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": f"Ev{time.time_ns()}",
                "event_time": int(time.time()),
                "event": event,
                "authorizations": [{"team_id": self.team, "user_id": "U0BOT", "is_bot": True}],
            }
        )
        status, text = post(self.base + "/slack/events", body, signed_headers(body, content_type="application/json"))
        return Response(status, text)

    def open_home(self, user: str) -> dict[str, Any]:
        """The user opens Settle's Home tab; the Home Settle publishes for them."""
        before = len(self.fake.homes.get(user, []))
        resp = self.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})
        assert resp.status == 200, resp
        eventually(lambda: len(self.fake.homes.get(user, [])) > before, message="no views.publish")
        home = self.fake.home(user)
        assert home is not None
        return home

    def command(self, user: str, text: str = "", channel: str = "C0ACME") -> tuple[Response, str]:
        """A signed /settle as Slack sends it (form fields, no JSON payload); the trigger_id too.

        Settle acks at once and answers through the command's response_url: the Response's body is
        that answer (JSON), or empty when a modal opened or an ephemeral message came instead."""
        from urllib.parse import urlencode, urlparse

        trigger = self.fake.new_trigger()
        response_url = self.fake.response_url()
        ephemerals = len(self.fake.calls_to("chat.postEphemeral"))
        body = urlencode(
            {
                "token": "legacy",
                "team_id": self.team,
                "team_domain": "test",
                "channel_id": channel,
                "channel_name": "billing",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/settle",
                "text": text,
                "api_app_id": "A1",
                "response_url": response_url,
                "trigger_id": trigger,
            }
        )
        sent = time.monotonic()
        status, acked = post(self.base + "/slack/events", body, signed_headers(body))
        acked_after = time.monotonic() - sent
        if status != 200:
            return Response(status, acked, acked_after), trigger
        path = urlparse(response_url).path

        def answered() -> str | None:
            posted = self.fake.responses.get(path)
            if posted:
                return json.dumps(posted[-1])
            if trigger in self.fake.opened or len(self.fake.calls_to("chat.postEphemeral")) > ephemerals:
                return ""
            return None

        deadline = time.monotonic() + 10
        while (found := answered()) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return Response(status, found or acked, acked_after), trigger

    def alert(self, invoice_id: str = "in_acme_1") -> dict[str, Any]:
        """The Slack message of the alert holding this invoice (or of this account's open balance)."""
        alert_id = self._alert_id(invoice_id)
        for ch in self.fake.channels.values():
            for m in ch.messages:
                if (m.get("metadata") or {}).get("event_payload", {}).get("alert_id") == alert_id:
                    return {**m, "channel": ch.id}
        raise AssertionError(f"no alert for {invoice_id}")

    def _alert_id(self, key: str) -> int:
        with transaction(self.services.sessions) as s:
            found = s.scalar(select(AlertInvoice.alert_id).where(AlertInvoice.invoice_id == key))
            if found is None:
                found = s.scalar(select(Alert.id).where(Alert.account_id == key).order_by(Alert.id.desc()))
        if found is None:
            raise AssertionError(f"no alert for {key}")
        return int(found)

    def replies(self, invoice_id: str = "in_acme_1") -> list[dict[str, Any]]:
        alert = self.alert(invoice_id)
        return [m for m in self.fake.messages(alert["channel"]) if m.get("thread_ts") == alert["ts"]]

    def click(
        self, user: str, action_id: str = "settle_open", value: str | None = None, invoice_id: str = "in_acme_1"
    ) -> tuple[Response, str]:
        msg = self.alert(invoice_id)
        button = next(
            (
                e
                for b in msg["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e.get("action_id") == action_id
            ),
            {"value": value},
        )
        trigger = self.fake.new_trigger()
        action = {
            "action_id": action_id,
            "block_id": "alert_actions",
            "type": "button",
            "value": value if value is not None else button.get("value"),
        }
        return self.message_action(user, action, msg, trigger), trigger

    def alert_action(self, user: str, action: dict[str, Any], invoice_id: str = "in_acme_1") -> Response:
        """Use one of the alert's own controls: `action` as Slack sends it (overflow option, people picker)."""
        return self.message_action(user, action, self.alert(invoice_id))

    def message_action(
        self, user: str, action: dict[str, Any], msg: dict[str, Any], trigger: str | None = None
    ) -> Response:
        """A control in a channel message `msg` (with its "channel"), used by `user`."""
        return self.send(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower(), "team_id": self.team},
                "api_app_id": "A1",
                "token": "legacy",
                "team": {"id": self.team, "domain": "test"},
                "container": {"type": "message", "message_ts": msg["ts"], "channel_id": msg["channel"]},
                "channel": {"id": msg["channel"], "name": "billing"},
                "message": {"ts": msg["ts"], "text": msg["text"], "blocks": msg["blocks"]},
                "trigger_id": trigger or self.fake.new_trigger(),
                "actions": [{"action_ts": str(time.time()), **action}],
            }
        )

    def menu(self, user: str, do: str, invoice_id: str = "in_acme_1") -> Response:
        """Pick the alert menu's option whose reference says `do` (snooze_1d, snooze_date, wake...)."""
        msg = self.alert(invoice_id)
        menu = next(
            e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "alert_menu"
        )
        option = next(o for o in menu["options"] if json.loads(o["value"]).get("do") == do)
        return self.alert_action(
            user,
            {"action_id": "alert_menu", "block_id": "alert_actions", "type": "overflow", "selected_option": option},
            invoice_id,
        )

    def assign(self, user: str, assignee: str, invoice_id: str = "in_acme_1") -> Response:
        msg = self.alert(invoice_id)
        block = next(b["block_id"] for b in msg["blocks"] if str(b.get("block_id", "")).startswith("alert_assign:"))
        return self.alert_action(
            user,
            {"action_id": "assign", "block_id": block, "type": "users_select", "selected_user": assignee},
            invoice_id,
        )

    def open_modal(self, user: str, invoice_id: str = "in_acme_1", callback_id: str = "settle_pick") -> str:
        resp, trigger = self.click(user, invoice_id=invoice_id)
        assert resp.status == 200, resp
        view_id = eventually(lambda: self.fake.view_by_trigger.get(trigger), message="no views.open")
        eventually(
            lambda: self.view(view_id).get("callback_id") == callback_id,
            message=f"modal never became {callback_id}: {self.view(view_id)}",
        )
        return view_id

    def view(self, view_id: str) -> dict[str, Any]:
        """What the user sees in the modal `view_id` belongs to: the top of its view stack."""
        with self.fake.lock:
            return dict(self.fake.views.get(self.fake.top_of(view_id)) or {})

    def transitional(self, view_id: str) -> bool:
        """The modal shows a step that says it is being done ("⏳ Checking…"), to be replaced."""
        blocks = self.view(view_id).get("blocks") or [{}]
        return str((blocks[0].get("text") or {}).get("text", "")).startswith("⏳") and len(blocks) == 1

    def back(self, view_id: str) -> None:
        self.fake.back(self.fake.top_of(view_id))

    def view_text(self, view_id: str) -> str:
        return json.dumps(self.view(view_id).get("blocks", []), ensure_ascii=False)

    def button_url(self, view_id: str, action_id: str) -> str | None:
        """The link a link-out button in the modal points at (the add-card or bank page)."""
        for b in self.view(view_id).get("blocks", []):
            for e in b.get("elements", []) if b.get("type") == "actions" else []:
                if e.get("action_id") == action_id:
                    return str(e["url"])
        return None

    def options(self, view_id: str) -> list[dict[str, Any]]:
        for b in self.view(view_id).get("blocks", []):
            if b.get("block_id") == "method":
                return list(b["element"]["options"])
        return []

    def submit(
        self, view_id: str, user: str, values: dict[str, Any] | None = None, view_override: dict[str, Any] | None = None
    ) -> Response:
        top = self.fake.top_of(view_id)
        view = {**self.view(view_id), **(view_override or {})}
        view["state"] = {"values": values or {}}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": self.fake.new_trigger(),
            "view": view,
        }
        resp = self.send(payload)
        data = resp.json() if resp.status == 200 and resp.body else None
        if data and data.get("response_action") == "update":  # Slack swaps the view in place
            self.fake._store_view(data["view"], top)
        if data and data.get("response_action") == "push":  # a new view on top; Back returns
            self.fake.push(top, data["view"])
        return resp

    def choose(self, view_id: str, user: str, method_id: str, invoices: list[str] | None = None) -> Response:
        """Pick a card (and, where the modal offers a choice, these invoices; all as offered when None)."""
        values: dict[str, Any] = {
            "method": {"method_choice": {"type": "radio_buttons", "selected_option": {"value": method_id}}}
        }
        offered = next((b for b in self.view(view_id).get("blocks", []) if b.get("block_id") == "invoices"), None)
        if offered is not None:
            initial = offered["element"].get("initial_options") or []
            chosen = (
                [o for o in offered["element"]["options"] if o["value"] in invoices]
                if invoices is not None
                else initial
            )
            values["invoices"] = {"invoice_choice": {"type": "checkboxes", "selected_options": chosen}}
        resp = self.submit(view_id, user, values)
        if resp.status == 200 and (resp.json() or {}).get("response_action") in ("push", "update"):
            # Slack shows "Checking…" at once; the confirmation (or why not) replaces it
            eventually(lambda: not self.transitional(view_id), message="the choice was never checked")
        return resp

    def confirm(self, view_id: str, user: str, make_default: bool = False) -> Response:
        selected = [{"value": "yes"}] if make_default else []
        return self.submit(
            view_id, user, {"make_default": {"make_default": {"type": "checkboxes", "selected_options": selected}}}
        )

    def settle_with(self, user: str, method_id: str, until: str, invoice_id: str = "in_acme_1") -> str:
        """Open the modal, pick a card, confirm, and wait until the modal shows `until`; the view id."""
        view_id = self.open_modal(user, invoice_id)
        self.choose(view_id, user, method_id)
        self.confirm(view_id, user)
        eventually(lambda: until in self.view_text(view_id), message=f"modal never showed {until!r}")
        return view_id

    def modal_action(self, view_id: str, user: str, action_id: str, value: str) -> Response:
        view = self.view(view_id)
        return self.send(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower(), "team_id": self.team},
                "api_app_id": "A1",
                "token": "legacy",
                "team": {"id": self.team, "domain": "test"},
                "container": {"type": "view", "view_id": view_id},
                "view": view,
                "trigger_id": self.fake.new_trigger(),
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "modal_actions",
                        "type": "button",
                        "value": value,
                        "action_ts": str(time.time()),
                    }
                ],
            }
        )

    # --- what happened -------------------------------------------------------------------------

    def attempts(self, invoice_id: str = "in_acme_1", on_session: bool = True) -> list[SandboxAttempt]:
        with transaction(self.services.sessions) as s:
            return list(
                s.scalars(
                    select(SandboxAttempt).where(
                        SandboxAttempt.invoice_id == invoice_id, SandboxAttempt.off_session.is_(not on_session)
                    )
                )
            )

    def audit(self) -> list[str]:
        with transaction(self.services.sessions) as s:
            return [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]

    def alert_row(self, invoice_id: str = "in_acme_1") -> Alert:
        alert_id = self._alert_id(invoice_id)
        with transaction(self.services.sessions) as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            return alert


@contextmanager
def running_server(settings: Settings | None = None) -> Iterator[tuple[str, Settle]]:
    services = build(settings or Settings())
    srv: Any = waitress.create_server(services.wsgi(), host="127.0.0.1", port=0, threads=16)
    thread = threading.Thread(target=serve_until_closed, args=(srv,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}", services
    finally:
        srv.close()
        thread.join(timeout=5)
        services.close(wait=True, cancel=True)  # nothing of this test may touch its database afterwards


def serve_until_closed(srv: Any) -> None:
    """waitress's loop ends with EBADF when its socket is closed from another thread: that is the stop."""
    with suppress(OSError):
        srv.run()


@contextmanager
def serve_process(env: dict[str, str], log_path: Any, *args: str) -> Iterator[tuple[str, Any]]:
    """A real `settle serve` in its own process; its stderr goes to `log_path` (a pipe could fill up)."""
    import os
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port), *args],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                with open(log_path) as log_file:
                    raise AssertionError(f"settle serve exited {proc.returncode}: {log_file.read()}")
            try:
                from tests.slack_requests import get

                if get(base + "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "settle serve never became healthy"
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
