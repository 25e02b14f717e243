"""Settle's App Home in Slack: published when someone opens it, and again for everyone who has it when
balances change (a decline, a payment, a settlement), a second at most after the change. Each Home is
published in its viewer's workspace, with that workspace's token."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.delivery.ports import HomeRenderer
from bot.domain.chat import SlackError, SlackGateway
from bot.domain.workspace import Requester
from bot.i18n import use
from bot.read.home import HomeSummary, home_summary
from bot.runtime.pools import Timers
from bot.slack.languages import UserLanguages
from storage.db import transaction
from storage.models import HomeViewer
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

# Homes kept up to date: of those who opened theirs in the last month (others get it fresh on opening)
VIEWER_TTL = timedelta(days=30)


class HomePublisher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        authorizer: Authorizer,
        gateway: SlackGateway,
        renderer: HomeRenderer,
        languages: UserLanguages,
        timers: Timers,
        *,
        debounce: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.authorizer = authorizer
        self.gateway = gateway
        self.renderer = renderer
        self.languages = languages
        self.timers = timers
        self.debounce = debounce
        self._lock = threading.Lock()
        self._scheduled = False

    def summary(self, who: Requester) -> HomeSummary:
        access = self.authorizer
        return home_summary(
            self.sessions,
            who.user_id or "",
            access.scope(who.team_id),
            access.may_settle(who),
            every_account=access.every_account(who),
        )

    def opened(self, who: Requester) -> None:
        """`app_home_opened`: publish this user's Home, and keep it up to date from now on."""
        assert who.user_id is not None
        now = datetime.now(UTC)
        with transaction(self.sessions) as s:
            row = {"user_id": who.user_id, "opened_at": now, "team_id": who.team_id}
            if insert_ignore(s, HomeViewer, row, ["user_id"]) is None:
                viewer = s.get(HomeViewer, who.user_id)
                if viewer is not None:
                    viewer.opened_at, viewer.team_id = now, who.team_id
        self.publish(who)

    def publish(self, who: Requester) -> None:
        assert who.user_id is not None
        try:
            summary = self.summary(who)
            with use(self.languages.of(who.user_id, who.team_id)):
                view = self.renderer.view(summary)
            self.gateway.publish_home(who.team_id, who.user_id, view)
        except SlackError as exc:
            log.info("home of %s not published: %s", who.user_id, exc.code)

    def changed(self) -> None:
        """Balances changed: every open Home is published again shortly (bursts coalesce into one)."""
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self.timers.later(self.debounce, self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._scheduled = False
        self.publish_all()

    def publish_all(self) -> int:
        cutoff = datetime.now(UTC) - VIEWER_TTL
        with transaction(self.sessions) as s:
            s.execute(delete(HomeViewer).where(HomeViewer.opened_at < cutoff))
            users = s.execute(select(HomeViewer.user_id, HomeViewer.team_id).order_by(HomeViewer.user_id)).all()
        for user_id, team in users:
            self.publish(Requester(user_id, team))
        return len(users)
