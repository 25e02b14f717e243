"""A small WSGI router in front of Bolt, served by waitress (a production WSGI server)."""

from __future__ import annotations

import contextvars
import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine

from bot.i18n import language, use
from bot.observe.metrics import POLL_LAG, REGISTRY, UNDELIVERED
from bot.slack.workspaces import INSTALL_PATH, REDIRECT_PATH
from bot.web.guard import MAX_BODY, RefusalLog, problem, refusal
from bot.web.pages.install import front_page
from storage.db import ping, unsynced

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

WSGIApp = Callable[["WSGIEnvironment", "StartResponse"], Iterable[bytes]]


def respond(
    start_response: StartResponse,
    status: str,
    body: str | bytes,
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *(headers or [])])
    return [data]


class PollHealth:
    """Did some replica poll within two intervals? (Right after start, it may not have yet.)"""

    def __init__(self, lease: Any, interval_seconds: int) -> None:
        self.lease = lease
        self.interval = interval_seconds
        self.started = time.monotonic()

    def check(self) -> tuple[bool, str, str | None]:
        try:
            last = self.lease.last_run()
        except Exception:
            return False, "unknown", None
        window = 2 * self.interval
        if last is None:
            fresh = time.monotonic() - self.started < window
            return fresh, "starting" if fresh else "late", None
        age = (datetime.now(UTC) - last).total_seconds()
        return age <= window, "ok" if age <= window else "late", last.isoformat()


class SettleWSGI:
    """`/slack/events` (only when requests are signed: never in Socket Mode), `/healthz`, and the
    provider's pages (the sandbox's; Stripe's webhook and add-card link). Nothing a client sends can
    make it answer 500: an unexpected failure is a 503 the client may retry."""

    def __init__(
        self,
        engine: Engine,
        signing_secret: str | None,
        bolt_app: App | None,
        pages: WSGIApp | None = None,
        health: PollHealth | None = None,
        *,
        oauth: bool = False,
        metrics_token: str | None = None,
    ) -> None:
        self.metrics_token = metrics_token
        self.health = health
        self.oauth = oauth and bolt_app is not None and signing_secret is not None
        self.engine = engine
        self.signing_secret = signing_secret
        self.slack = SlackRequestHandler(bolt_app, path="/slack/events") if bolt_app and signing_secret else None
        self.pages = pages
        self._refusals = RefusalLog(log)  # why a request got 401, at most once a minute per reason

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # each request in a context of its own: the reader's language it sets (bot/i18n.py) must not
        # outlive it in the server's thread
        return contextvars.Context().run(self._guarded, environ, start_response)

    def _guarded(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.route(environ, start_response)
        except Exception:
            log.exception("%s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return respond(start_response, "503 Service Unavailable", "temporarily unavailable; try again\n")

    def route(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
            if self.slack is None:
                return respond(start_response, "404 Not Found", "not served here (Socket Mode)\n")
            if method != "POST":
                return respond(start_response, "405 Method Not Allowed", "POST only\n", headers=[("Allow", "POST")])
            return self.slack_events(environ, start_response)
        if path in (INSTALL_PATH, REDIRECT_PATH) and self.oauth:
            if method != "GET":
                return respond(start_response, "405 Method Not Allowed", "GET only\n", headers=[("Allow", "GET")])
            assert self.slack is not None
            with use(language(environ.get("HTTP_ACCEPT_LANGUAGE"))):  # its pages in the reader's language
                return self.slack(environ, start_response)  # Bolt's OAuth flow: state checked, code exchanged
        if path in ("/metrics", "/healthz", "/") and method not in ("GET", "HEAD"):
            return respond(start_response, "405 Method Not Allowed", "GET only\n", headers=[("Allow", "GET, HEAD")])
        if path == "/metrics":
            if self.metrics_token and not hmac.compare_digest(
                environ.get("HTTP_AUTHORIZATION", "").encode(), b"Bearer " + self.metrics_token.encode()
            ):
                return respond(
                    start_response,
                    "401 Unauthorized",
                    "a bearer token is needed (METRICS_TOKEN)\n",
                    headers=[("WWW-Authenticate", 'Bearer realm="metrics"')],
                )
            return self.metrics(start_response)
        if path == "/healthz":
            db_ok = ping(self.engine)
            report: dict[str, object] = {"database": "up" if db_ok else "down"}
            poll_ok = True
            if db_ok and self.health is not None:
                poll_ok, report["poller"], report["last_poll"] = self.health.check()
            ok = db_ok and poll_ok
            body = json.dumps({"ok": ok, **report})
            return respond(start_response, "200 OK" if ok else "503 Service Unavailable", body, "application/json")
        if path == "/":
            with use(language(environ.get("HTTP_ACCEPT_LANGUAGE"))):
                page = front_page(self.oauth)
            return respond(start_response, "200 OK", page, "text/html; charset=utf-8")
        if path.startswith(("/sandbox/", "/stripe/")) and self.pages is not None:
            return self.pages(environ, start_response)
        return respond(start_response, "404 Not Found", "not found\n")

    def metrics(self, start_response: StartResponse) -> Iterable[bytes]:
        """Prometheus's text format; the gauges are read now (one query each)."""
        UNDELIVERED.set(unsynced(self.engine))
        if self.health is not None:
            last = self.health.lease.last_run()
            if last is not None:
                POLL_LAG.set((datetime.now(UTC) - last).total_seconds())
        return respond(start_response, "200 OK", generate_latest(REGISTRY), CONTENT_TYPE_LATEST)

    def slack_events(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.slack is not None and self.signing_secret
        raw_length = environ.get("CONTENT_LENGTH") or "0"
        length = int(raw_length) if raw_length.isascii() and raw_length.isdigit() and len(raw_length) < 10 else -1
        if not 0 <= length <= MAX_BODY:
            return respond(start_response, "413 Content Too Large", "body too large\n")
        raw = environ["wsgi.input"].read(length) if length else b""
        refused = refusal(
            self.signing_secret,
            raw,
            environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_SLACK_SIGNATURE"),
        )
        if refused is not None:
            self._refusals.refused(refused)
            return respond(start_response, "401 Unauthorized", "invalid request signature\n")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return respond(start_response, "400 Bad Request", "body is not UTF-8\n")
        why = problem(body, environ.get("CONTENT_TYPE") or "")
        if why is not None:
            log.warning("malformed Slack request refused: %s", why)
            return respond(start_response, "400 Bad Request", why + "\n")
        environ["wsgi.input"] = io.BytesIO(raw)  # hand the body on to Bolt, which verifies it again
        try:
            return self.slack(environ, start_response)
        except Exception:
            # Bolt fails on a signed payload it cannot read: a bad request, not our crash
            log.exception("Bolt could not handle a signed request")
            return respond(start_response, "400 Bad Request", "unreadable payload\n")
