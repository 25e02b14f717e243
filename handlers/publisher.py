"""Shows a settlement's outcome to the admin: in their modal, or ephemerally when it is gone."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot.settlement import NotSettleable, Refused, SettlementService, SettlementView
from handlers.settle_modal import (
    declined_message,
    info_view,
    outcome_text,
    paid_view,
    pick_view,
    processing_view,
    verify_view,
)

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settle: SettlementService | None = None

    def view_for(self, st: SettlementView) -> View:
        if st.status == "succeeded":
            return paid_view(st)
        if st.status == "requires_action":
            return verify_view(st)
        if st.status == "charging":
            return processing_view(st)
        if st.status == "declined" and self.settle is not None:
            try:
                ctx = self.settle.context(st.alert_id, st.user_id, st.view_id)
                return pick_view(ctx, failed=st)
            except (NotSettleable, Refused):
                pass
        return info_view("Settle balance", declined_message(st) if st.status == "declined" else outcome_text(st))

    def publish(self, st: SettlementView) -> None:
        view = self.view_for(st)
        if st.view_id:
            try:
                self.services.web.views_update(view_id=st.view_id, view=view)
                return
            except SlackApiError as exc:
                log.info(
                    "settlement %s: modal gone (%s); telling the admin ephemerally", st.id, exc.response.get("error")
                )
        if st.alert_channel:
            try:
                self.services.web.chat_postEphemeral(channel=st.alert_channel, user=st.user_id, text=outcome_text(st))
            except SlackApiError as exc:
                log.warning("settlement %s: could not tell %s: %s", st.id, st.user_id, exc.response.get("error"))

    def refresh_pick(self, alert_id: int, view_id: str, user_id: str) -> None:
        """A card was added on the hosted page: show it in the admin's open modal."""
        if self.settle is None:
            return
        try:
            ctx = self.settle.context(alert_id, user_id, view_id)
            self.services.web.views_update(view_id=view_id, view=pick_view(ctx))
        except (NotSettleable, Refused, SlackApiError) as exc:
            log.info("modal %s not refreshed: %s", view_id, exc)


def settlement_service(services: Services) -> tuple[SettlementService, Publisher]:
    publisher = Publisher(services)
    service = SettlementService(services, notify=publisher.publish)
    publisher.settle = service
    return service, publisher


class ProviderHooks:
    """Provider notices (card added on the hosted page, bank step finished) turned into Slack updates."""

    def __init__(self, settle: SettlementService, publisher: Publisher) -> None:
        self.settle = settle
        self.publisher = publisher

    def method_added(self, account_id: str, ref: str) -> None:
        alert_s, _, rest = ref.partition(":")
        view_id, _, user_id = rest.partition(":")
        if alert_s.isdigit() and view_id and user_id:
            self.publisher.refresh_pick(int(alert_s), view_id, user_id)

    def payment_updated(self, payment_id: str) -> None:
        sid = self.settle.by_payment(payment_id)
        if sid is not None:
            self.settle.check_verification(sid)
