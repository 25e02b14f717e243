"""The Notifier the domain is given: a confirmation's outcome shown to its admin (in their modal, or
ephemerally when it is gone), through the Slack gateway."""

from __future__ import annotations

import logging

from bot.i18n import use
from bot.read.model import BatchRecord, SettleContext
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.languages import UserLanguages
from bot.slack.workspaces import in_workspace
from handlers.blocks.settle_modal import outcome_text, outcome_view, pick_view

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, gateway: SlackGateway, languages: UserLanguages) -> None:
        self.gateway = gateway
        self.languages = languages

    def batch_changed(self, batch: BatchRecord, views: dict[str, SettleContext | None]) -> None:
        # told from a webhook or a bank page as often as from Slack: the admin's workspace is the alert's
        with in_workspace(batch.team_id), use(self.languages.of(batch.user_id)):
            self._batch_changed(batch, views)

    def _batch_changed(self, batch: BatchRecord, views: dict[str, SettleContext | None]) -> None:
        shown = False
        for view_id, next_step in views.items():
            try:
                self.gateway.update_view(view_id, outcome_view(batch, next_step))
                shown = shown or view_id == batch.view_id
            except SlackError as exc:
                log.info("batch %s: modal %s gone (%s)", batch.id, view_id, exc.code)
        if not shown and batch.alert_channel:  # the admin closed their modal: tell them anyway
            try:
                self.gateway.post_ephemeral(batch.alert_channel, batch.user_id, outcome_text(batch))
            except SlackError as exc:
                log.warning("batch %s: could not tell %s: %s", batch.id, batch.user_id, exc.code)

    def methods_changed(self, view_id: str, ctx: SettleContext, user_id: str | None = None) -> None:
        try:
            with in_workspace(ctx.alert.team_id):
                with use(self.languages.of(user_id)):
                    view = pick_view(ctx)
                self.gateway.update_view(view_id, view)
        except SlackError as exc:
            log.info("modal %s not refreshed: %s", view_id, exc.code)
