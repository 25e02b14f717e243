"""Asking the customer from Slack: the provider's payment page when the bank wants the cardholder
(who is not the admin), or its add-card page when the card is done for. The provider emails neither
for an automatically collected invoice (Stripe's `/send` is for `send_invoice` invoices only), so
the admin gets the link to copy; telling Settle it was sent records who sent it and when, on the
alert and in the audit trail, and a payment by the customer after it counts as their own recovery."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.balances.lifecycle import add_reply, bump
from bot.billing.base import BillingProvider
from bot.domain.errors import BillingError, NotSettleable
from bot.domain.ports import Outbox
from bot.domain.states import ALERT_DONE, AlertState
from bot.domain.workspace import Requester
from bot.i18n import N_
from bot.read.cards import AlertCard, card_of
from bot.settlement.forms import deliver_now
from storage import audit
from storage.db import reading, transaction
from storage.models import Alert

log = logging.getLogger(__name__)

Ask = Literal["pay", "card"]
ASKS: tuple[Ask, ...] = ("pay", "card")
ACTION = "ask_customer"  # authorised (and refused) as this
CARD_REF = "ask-"  # the add-card page's ref: the alert it was asked for


@dataclass(frozen=True)
class AskLinks:
    card: AlertCard
    links: tuple[tuple[str, str], ...]  # (invoice id or "", link): a page per open invoice, or one card page


class CustomerAsks:
    def __init__(
        self, sessions: sessionmaker[Session], provider: BillingProvider, access: Authorizer, outbox: Outbox
    ) -> None:
        self.sessions = sessions
        self.provider = provider
        self.access = access
        self.outbox = outbox

    def links(self, alert_id: int, who: Requester, ask: Ask) -> AskLinks:
        """The links to send, for who may ask: each open invoice's payment page, or the page where
        the customer adds a card. No link (the provider gave none), no form: BillingError."""
        self.access.authorize(who, alert_id, action=ACTION)
        with reading(self.sessions) as s:
            card = card_of(s, alert_id)
        if card is None:
            raise NotSettleable("gone")
        if card.state in ALERT_DONE:
            raise NotSettleable("paid" if card.state == AlertState.PAID else "closed", by=card.paid_by)
        if ask == "pay":
            links = tuple((line.invoice_id, line.url) for line in card.open_invoices if line.url)
        else:
            url = self.provider.customer_card_url(card.account_id, f"{CARD_REF}{alert_id}")
            links = (("", url),) if url else ()
        if not links:
            raise BillingError(N_("it gave no page to send the customer"))
        return AskLinks(card, links)

    def sent(self, alert_id: int, who: Requester, ask: Ask) -> None:
        """The admin sent the customer the link: the alert says so, by whom and when."""
        self.access.authorize(who, alert_id, action=ACTION)
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            alert = s.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                raise NotSettleable("gone")
            if alert.state in ALERT_DONE:
                raise NotSettleable("paid" if alert.state == AlertState.PAID else "closed", by=alert.paid_by)
            alert.asked_customer, alert.asked_by, alert.asked_at = ask, who.user_id, now
            bump(s, alert_id)
            add_reply(s, alert_id, "asked", ask=ask, by=who.user_id)
            audit.record(
                s,
                "customer_asked",
                actor=who.user_id or "unknown",
                account_id=alert.account_id,
                alert_id=alert_id,
                ask=ask,
            )
        log.info("alert %s: %s sent the customer the %s page", alert_id, who.user_id, ask)
        deliver_now(self.outbox, alert_id)
