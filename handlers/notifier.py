"""The Notifier the domain is given: a settlement's outcome shown to its admin (in their modal, or
ephemerally when it is gone) and recorded under the alert, all through the Slack gateway."""

from __future__ import annotations

import logging

from bot.queries import SettleContext, SettlementRecord
from bot.slack_gateway import SlackError, SlackGateway
from bot.states import SettlementStatus
from handlers.settle_modal import outcome_text, outcome_view, pick_view, settled_reply

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, gateway: SlackGateway) -> None:
        self.gateway = gateway

    def settlement_changed(self, record: SettlementRecord, next_step: SettleContext | None) -> None:
        if record.status == SettlementStatus.SUCCEEDED and record.alert_channel and record.alert_ts:
            try:
                self.gateway.post(record.alert_channel, settled_reply(record), [], thread_ts=record.alert_ts)
            except SlackError as exc:  # the alert itself already says it
                log.warning("settlement %s: thread reply not posted: %s", record.id, exc.code)
        if record.view_id:
            try:
                self.gateway.update_view(record.view_id, outcome_view(record, next_step))
                return
            except SlackError as exc:
                log.info("settlement %s: modal gone (%s); telling the admin ephemerally", record.id, exc.code)
        if record.alert_channel:
            try:
                self.gateway.post_ephemeral(record.alert_channel, record.user_id, outcome_text(record))
            except SlackError as exc:
                log.warning("settlement %s: could not tell %s: %s", record.id, record.user_id, exc.code)

    def methods_changed(self, view_id: str, ctx: SettleContext) -> None:
        try:
            self.gateway.update_view(view_id, pick_view(ctx))
        except SlackError as exc:
            log.info("modal %s not refreshed: %s", view_id, exc.code)
