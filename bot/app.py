"""The Bolt app factory."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt import App

import handlers
from bot.services import Services
from bot.settlement import SettlementService
from handlers.publisher import ProviderHooks, Publisher, settlement_service


@dataclass
class Runtime:
    app: App
    settle: SettlementService
    publisher: Publisher
    hooks: ProviderHooks


def create_runtime(services: Services) -> Runtime:
    settings = services.settings
    settle, publisher = settlement_service(services)
    app = App(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
        client=services.web,
        token_verification_enabled=False,  # `settle serve` checks the token itself, with a clearer error
        process_before_response=False,
        logger=logging.getLogger("settle.bolt"),
        # enough workers that a burst of clicks never queues behind slow Slack or provider calls
        listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="settle-listener"),
    )
    background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="settle-fill")
    handlers.register(app, services, settle, publisher, background)
    return Runtime(app, settle, publisher, ProviderHooks(settle, publisher))


def create_app(services: Services) -> App:
    return create_runtime(services).app
