"""The `settle serve` process: waitress for HTTP, Socket Mode when configured, the poll scheduler, and a
shutdown that finishes what is under way."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Any

import waitress
from slack_sdk.errors import SlackApiError
from waitress import wasyncore

from bot.app import build, require_slack
from bot.domain.errors import SettleError
from bot.settings import Settings
from bot.slack.workspaces import INSTALL_PATH

log = logging.getLogger(__name__)

# SIGTERM to exit: orchestrators kill after their grace period (Kubernetes' default is 30 s, Docker's
# 10 s). Requests get most of it; the poll cycle stops starting deliveries at once.
SHUTDOWN_SECONDS = 10.0
DRAIN_SECONDS = 6.0


def serve_forever(settings: Settings, *, host: str, port: int, threads: int) -> None:
    require_slack(settings, signing=True)
    # A click's path to views.open releases the GIL at every socket and database call; with the
    # default 5 ms switch interval each re-acquire can wait behind a busy thread (form filling,
    # polling). 1 ms keeps click latency close to a bare Bolt app's (bench/click_to_modal.py).
    sys.setswitchinterval(0.001)
    settle = build(settings, port=port)  # applies pending migrations
    if settings.oauth:
        teams = settle.workspaces.installed() or frozenset()
        log.info(
            "OAuth: installable into many workspaces at %s%s (installed in %d now)",
            settle.public_base,
            INSTALL_PATH,
            len(teams),
        )
    else:
        try:
            who = settle.web.auth_test()
            log.info("connected to Slack as %s in %s", who.get("user"), who.get("team"))
        except SlackApiError as exc:
            raise SettleError(f"Slack rejected SLACK_BOT_TOKEN: {exc.response.get('error')}") from None
        except Exception as exc:
            raise SettleError(f"cannot reach Slack at {settings.slack_api_url}: {exc}") from None

    try:  # bind first: a port in use is one line, before anything has started or been said
        server: Any = waitress.create_server(  # type: ignore[attr-defined]
            settle.wsgi(), host=host, port=port, threads=threads, ident="settle"
        )
    except OSError as exc:
        settle.close(wait=False)
        raise SettleError(f"cannot listen on {host}:{port}: {exc.strerror} (another settle serve?)") from None

    app = settle.bolt
    scheduler = settle.scheduler()
    scheduler.start()
    socket_handler = None
    if settle.socket_mode:
        # websocket support only in Socket Mode: start-up time
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(app, settings.slack_app_token)
        settle.pools.later.submit(_connect, socket_handler)
        log.info("Socket Mode: Slack's requests arrive over a WebSocket; /slack/events is not served")
    else:
        log.info("Slack requests: POST %s/slack/events (signed requests only)", settle.public_base)
    pages = (
        " and the sandbox's card, bank and invoice pages under /sandbox/" if settle.provider.name == "sandbox" else ""
    )
    log.info("listening on http://%s:%s: /healthz%s (public URL %s)", host, port, pages, settle.public_base)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        while not stopping.is_set():
            wasyncore.loop(timeout=0.2, map=server._map, count=1)
        log.info("stopping: finishing the requests, deliveries and charges in progress")
        settle.stop()  # a long fan-out stops after the posts under way are recorded
        _drain(server, deadline=time.monotonic() + DRAIN_SECONDS)
    finally:
        scheduler.shutdown(wait=True)  # a poll cycle under way finishes
        try:
            settle.poll_lease.release()  # another replica may poll at once
        except Exception:
            log.warning("poll lease not released; it lapses by itself")
        settle.close(wait=True)  # so do charges and form fills that run after Slack was answered
        if socket_handler is not None:
            socket_handler.close()
        server.close()
    log.info("stopped")


def _drain(server: Any, deadline: float) -> None:
    """Stop accepting, then keep serving until every request under way has been answered."""
    server.accepting = False
    server.del_channel()
    server.socket.close()
    while time.monotonic() < deadline:
        busy = server.task_dispatcher.active_count or server.task_dispatcher.queue
        pending = any(
            getattr(ch, "requests", None) or getattr(ch, "total_outbufs_len", 0) for ch in list(server._map.values())
        )
        if not busy and not pending:
            return
        wasyncore.loop(timeout=0.05, map=server._map, count=1)
    log.warning("stopped with requests still unanswered after %.0f s", DRAIN_SECONDS)


def _connect(handler: Any) -> None:
    """Connect Socket Mode in the background, retrying: a start while Slack is unreachable recovers."""
    delay = 1.0
    while True:
        try:
            handler.connect()
            log.info("Socket Mode connected")
            return
        except Exception as exc:
            log.warning("Socket Mode connection failed (%s); retrying in %.0f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 60.0)
