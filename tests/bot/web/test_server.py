"""The HTTP endpoint: Bolt's signature check, health, and the sandbox invoice page."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import waitress
from waitress.server import BaseWSGIServer

from bot.app import Settle, build
from bot.billing.sandbox.provider import SandboxProvider
from bot.settings import Settings
from storage.db import make_engine
from tests.conftest import account, load_accounts, run_cli, spawn_cli, write_accounts
from tests.fake_slack import FakeSlack
from tests.harness import serve_until_closed
from tests.slack_requests import get, post, signed_headers


@pytest.fixture
def server(sqlite_env: dict[str, str]) -> Iterator[tuple[str, Settle]]:
    services = build(Settings())
    srv: Any = waitress.create_server(services.wsgi(), host="127.0.0.1", port=0)
    assert isinstance(srv, BaseWSGIServer)
    thread = threading.Thread(target=serve_until_closed, args=(srv,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}", services
    srv.close()
    thread.join(timeout=5)
    services.close()


URL_CHECK = json.dumps({"type": "url_verification", "token": "x", "challenge": "ch4ll3nge"})


def test_signed_url_verification_is_answered(server: tuple[str, Settle]) -> None:
    base, _ = server
    status, body = post(base + "/slack/events", URL_CHECK, signed_headers(URL_CHECK, content_type="application/json"))
    assert status == 200 and "ch4ll3nge" in body


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda b: signed_headers(b, secret="wrong-secret"), id="forged"),
        pytest.param(lambda b: signed_headers(b, timestamp=int(time.time()) - 6 * 60), id="stale"),
        pytest.param(lambda b: {"Content-Type": "application/json"}, id="unsigned"),
    ],
)
def test_bad_signatures_get_401(server: tuple[str, Settle], headers: Any) -> None:
    base, _ = server
    status, _ = post(base + "/slack/events", URL_CHECK, headers(URL_CHECK))
    assert status == 401


def test_healthz_reports_the_database(server: tuple[str, Settle]) -> None:
    base, services = server
    status, body = get(base + "/healthz")
    assert status == 200 and json.loads(body)["database"] == "up"
    down = services.wsgi()
    down.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    seen: list[str] = []
    body = b"".join(down({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda status, _h: seen.append(status)))
    assert seen == ["503 Service Unavailable"] and json.loads(body)["database"] == "down"


def test_invoice_page(server: tuple[str, Settle], tmp_path: Path) -> None:
    base, services = server
    acc = account("acme", "4000000000009995", extra_cards=["4242424242424242"])
    load_accounts(services, write_accounts(tmp_path / "a.yml", [acc]))
    sandbox = services.provider
    assert isinstance(sandbox, SandboxProvider)
    sandbox.bill()  # the renewal is declined
    sandbox.pay_invoice("in_acme_1", "pm_acme_2", idempotency_key="by-hand")
    url = sandbox.invoice_url("in_acme_1").replace("http://settle.test", base)

    status, body = get(url)
    assert status == 200 and "€129.00" in body and "acme subscription, November" in body
    assert "Acme Corp" in body and ">acme<" not in body  # the customer's name, not its id
    assert body.count(">paid<") == 1  # the status once
    assert "Renewal" in body and "Declined (insufficient funds)" in body and "By hand" in body
    assert "Paid</dt><dd>" in body and "with Visa ·· 4242" in body
    # invoice ids are guessable: the page needs its signed link
    assert get(base + "/sandbox/invoices/in_acme_1")[0] == 403
    assert get(url.replace("in_acme_1", "in_acme_2"))[0] == 403
    assert get(sandbox.invoice_url("in_nope").replace("http://settle.test", base))[0] == 404
    assert get(base + "/nothing-here")[0] == 404


def test_settle_serve_runs_as_a_process(sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path) -> None:
    """The real command: waitress, migrations on start, and the scheduler polling in-process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run_cli(
        sqlite_env, "sandbox", "load", str(write_accounts(tmp_path / "a.yml", [account("acme", "4000000000000002")]))
    )
    run_cli(sqlite_env, "sandbox", "bill")
    proc = spawn_cli({**sqlite_env, "POLL_INTERVAL_SECONDS": "1"}, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base), proc)
        assert post(base + "/slack/events", URL_CHECK, signed_headers(URL_CHECK, secret="forged"))[0] == 401
        status, body = post(
            base + "/slack/events", URL_CHECK, signed_headers(URL_CHECK, content_type="application/json")
        )
        assert status == 200 and "ch4ll3nge" in body
        wait_for(lambda: len(fake_slack.messages("CALERTS")) == 1, proc)  # the in-process poller posted
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _healthy(base: str) -> bool:
    try:
        return get(base + "/healthz", timeout=1)[0] == 200
    except OSError:
        return False


def wait_for(check: Callable[[], bool], proc: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"settle serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_pages_show_outside_text_as_text(server: tuple[str, Settle], tmp_path: Path) -> None:
    base, services = server
    acc = account("evil", "4000000000009995")
    acc["name"] = "<script>alert(1)</script>"
    acc["invoices"][0]["description"] = "<img src=x onerror=alert(2)> " + "D" * 900
    load_accounts(services, write_accounts(tmp_path / "a.yml", [acc]))
    sandbox = services.provider
    assert isinstance(sandbox, SandboxProvider)
    sandbox.bill()
    pages = [
        sandbox.invoice_url("in_evil_1"),
        sandbox.add_method_url("evil", "1:V1:U0ADMIN") or "",
    ]
    for url in pages:
        status, body = get(url.replace("http://settle.test", base))
        assert status == 200
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
