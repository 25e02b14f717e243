"""The Bolt app factory."""

from __future__ import annotations

import logging

from slack_bolt import App

import handlers
from bot.services import Services


def create_app(services: Services) -> App:
    settings = services.settings
    app = App(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
        client=services.web,
        token_verification_enabled=False,  # `settle serve` checks the token itself, with a clearer error
        process_before_response=False,
        logger=logging.getLogger("settle.bolt"),
    )
    handlers.register(app, services)
    return app
