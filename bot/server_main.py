"""`settle serve`: waitress for HTTP, Socket Mode when configured, and the poll scheduler."""

from __future__ import annotations

import logging
import sys

from slack_sdk.errors import SlackApiError

from bot.app import build, require_slack
from bot.errors import SettleError
from bot.settings import Settings

log = logging.getLogger(__name__)


def serve_forever(settings: Settings, *, host: str, port: int, threads: int) -> None:
    import waitress

    require_slack(settings, signing=True)
    # A click's path to views.open releases the GIL at every socket and database call; with the
    # default 5 ms switch interval each re-acquire can wait behind a busy thread (form filling,
    # polling). 1 ms keeps click latency close to a bare Bolt app's (bench/click_to_modal.py).
    sys.setswitchinterval(0.001)
    settle = build(settings, port=port)  # applies pending migrations
    try:
        who = settle.web.auth_test()
        log.info("connected to Slack as %s in %s", who.get("user"), who.get("team"))
    except SlackApiError as exc:
        raise SettleError(f"Slack rejected SLACK_BOT_TOKEN: {exc.response.get('error')}") from None
    except Exception as exc:
        raise SettleError(f"cannot reach Slack at {settings.slack_api_url}: {exc}") from None

    app = settle.bolt
    scheduler = settle.scheduler()
    scheduler.start()
    socket_handler = None
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(app, settings.slack_app_token)
        socket_handler.connect()
        log.info("Socket Mode connected")
    log.info("listening on http://%s:%s (public URL %s)", host, port, settle.public_base)
    try:
        waitress.serve(settle.wsgi(), host=host, port=port, threads=threads, ident="settle")
    finally:
        scheduler.shutdown(wait=False)
        if socket_handler is not None:
            socket_handler.close()
