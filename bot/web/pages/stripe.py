"""What Settle serves for Stripe: the webhook endpoint, the add-card link that opens Stripe's hosted
page, and the page Stripe sends the admin back to."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from bot.billing.stripe.provider import StripeProvider
from bot.domain.errors import BillingError, ProviderUnavailable
from bot.domain.records import ChangePage
from bot.i18n import _, language, use
from bot.runtime.pools import PoolFull
from bot.web.guard import RefusalLog
from bot.web.pages.frame import Para, message_page, tm
from bot.web.router import respond
from bot.web.stripe_guard import webhook_event

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

MAX_WEBHOOK_BODY = 512 * 1024  # Stripe's event payloads are far smaller


class StripePages:
    def __init__(
        self,
        provider: StripeProvider,
        webhook_secret: str | None,
        apply: Callable[[ChangePage], object],
        background: Executor,
    ) -> None:
        self.provider = provider
        self.webhook_secret = webhook_secret
        self.apply = apply  # records one event's changes (the poller's apply, idempotent)
        self.background = background
        self._refusals = RefusalLog(log, "Stripe webhook refused (400)")  # once a minute per reason

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/stripe/webhook":
            if method != "POST":
                return respond(start_response, "405 Method Not Allowed", "POST only\n", headers=[("Allow", "POST")])
            return self.webhook(environ, start_response)
        with use(language(environ.get("HTTP_ACCEPT_LANGUAGE"))):  # the page in the reader's language
            if path == "/stripe/add-card" and method == "GET":
                return self.add_card(environ, start_response)
            if path == "/stripe/card-added" and method == "GET":
                return self.card_added(environ, start_response)
        return respond(start_response, "404 Not Found", "not found\n")

    # --- webhook ----------------------------------------------------------------------------------

    def webhook(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Verified with Stripe's signature, answered at once, applied in the background. A webhook
        lost or never set up costs nothing but speed: the poll reads the same events."""
        if not self.webhook_secret:
            return respond(start_response, "404 Not Found", "webhooks are not set up (STRIPE_WEBHOOK_SECRET)\n")
        raw_length = environ.get("CONTENT_LENGTH") or "0"
        length = int(raw_length) if raw_length.isascii() and raw_length.isdigit() and len(raw_length) < 10 else -1
        if not 0 <= length <= MAX_WEBHOOK_BODY:
            return respond(start_response, "413 Content Too Large", "body too large\n")
        raw = environ["wsgi.input"].read(length) if length else b""
        data, why = webhook_event(raw, environ.get("HTTP_STRIPE_SIGNATURE"), self.webhook_secret)
        if data is None:
            self._refusals.refused(why)
            return respond(start_response, "400 Bad Request", why + "\n")
        log.info("stripe webhook %s (%s)", data["id"], data["type"])
        try:
            self.background.submit(self._apply_event, data)
        except PoolFull:
            # too many events waiting: Stripe sends it again later (and the poll reads it anyway)
            log.warning("stripe webhook %s refused for now: the webhook queue is full", data["id"])
            return respond(start_response, "503 Service Unavailable", "busy; send it again later\n")
        return respond(start_response, "200 OK", '{"received": true}', "application/json")

    def _apply_event(self, event: dict[str, Any]) -> None:
        try:
            self.apply(self.provider.event_changes(event))
        except (ProviderUnavailable, BillingError) as exc:
            log.warning("stripe event %s left for the poll: %s", event.get("id"), exc)
        except Exception:
            log.exception("stripe event %s left for the poll", event.get("id"))

    # --- adding a card ----------------------------------------------------------------------------

    def add_card(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10).items()}
        if not self.provider.check_add_card_link(query):
            body = message_page(
                _("Link expired"),
                _("This link has expired"),
                tm(
                    "Links to add a card work for an hour. In Slack, open <b>Settle balance</b> on the alert again "
                    "and use <b>Add a new card</b> there."
                ),
                tone="error",
            )
            return respond(start_response, "403 Forbidden", body, "text/html; charset=utf-8")
        try:
            url = self.provider.open_add_card_session(query["account"], query["ref"])
        except (ProviderUnavailable, BillingError) as exc:
            log.warning("no Checkout session for %s: %s", query["account"], exc)
            body = message_page(
                _("Stripe is not answering"),
                _("Stripe's card page could not be opened"),
                f"{exc}. " + _("Try the link again in a minute."),
                tone="error",
            )
            return respond(start_response, "503 Service Unavailable", body, "text/html; charset=utf-8")
        return respond(start_response, "303 See Other", "", headers=[("Location", url), ("Cache-Control", "no-store")])

    def card_added(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cancelled = "cancelled=1" in environ.get("QUERY_STRING", "")
        if cancelled:
            body = message_page(
                _("No card added"),
                _("No card was added"),
                Para(
                    _("You can close this tab and go back to Slack: the Settle form is where you left it."), muted=True
                ),
            )
        else:
            body = message_page(
                _("Card saved"),
                "✓ " + _("Card saved with Stripe"),
                _(
                    "Go back to Slack: the Settle form now offers the new card, already selected. Review and "
                    "confirm the payment there."
                ),
                Para(_("Card numbers go to Stripe only; Settle and Slack never see them."), muted=True),
                tone="ok",
            )
        return respond(start_response, "200 OK", body, "text/html; charset=utf-8")
