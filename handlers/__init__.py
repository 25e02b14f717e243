"""Slack listeners and Block Kit builders. `register` wires every listener onto a Bolt app."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltResponse

if TYPE_CHECKING:
    from bot.services import Services
    from bot.settlement import SettlementService
    from handlers.publisher import Publisher

log = logging.getLogger(__name__)


def register(
    app: App, services: Services, settle: SettlementService, publisher: Publisher, background: Executor
) -> None:
    from handlers import actions, views
    from handlers.priority import OpenGate

    gate = OpenGate()

    @app.middleware
    def provide_services(context: BoltContext, next: Any) -> Any:
        context["services"] = services
        context["settle"] = settle
        context["publisher"] = publisher
        context["background"] = background
        context["open_gate"] = gate
        return next()

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        user = (body.get("user") or {}).get("id")
        kind = body.get("type")
        log.exception("listener failed (type=%s user=%s): %s", kind, user, error, exc_info=error)
        return BoltResponse(status=500, body="")

    actions.register(app)
    views.register(app)
