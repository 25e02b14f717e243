"""Settle's App Home: what the person looking may settle, what waits for a bank, what was settled
lately. Published when someone opens it, and again for everyone who has it when balances change
(a decline, a payment, a settlement), a second at most after the change."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.i18n import use
from bot.read.model import AlertCard, BatchRecord, BatchStatus, batch_record
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.languages import UserLanguages
from bot.slack.workspaces import current_workspace, in_workspace
from storage.db import reading, transaction
from storage.models import Alert, HomeViewer, SettlementBatch
from storage.upsert import insert_ignore

if TYPE_CHECKING:
    from bot.settlement.service import SettlementService

log = logging.getLogger(__name__)

# Homes kept up to date: of those who opened theirs in the last month (others get it fresh on opening)
VIEWER_TTL = timedelta(days=30)
RECENT = 8
SHOWN = 15


@dataclass(frozen=True)
class HomeSummary:
    user_id: str
    balances: tuple[AlertCard, ...]  # the first open balances this user may settle, oldest first
    count: int  # how many open balances this user may settle
    totals: tuple[tuple[str, int], ...]  # (currency, minor units) still owed on them
    others_open: int  # open balances this user may not settle
    every_account: bool  # one of SETTLE_ADMINS (directly or by group)
    recent: tuple[BatchRecord, ...]  # settlements of these accounts lately, newest first


class HomeRenderer(Protocol):
    def view(self, summary: HomeSummary) -> Any: ...


class HomeService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settlements: SettlementService,
        gateway: SlackGateway,
        renderer: HomeRenderer,
        languages: UserLanguages,
        *,
        debounce: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.settlements = settlements
        self.gateway = gateway
        self.renderer = renderer
        self.languages = languages
        self.debounce = debounce
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def summary(self, user_id: str) -> HomeSummary:
        settle = self.settlements
        balances = settle.balances_for(user_id, limit=SHOWN)
        mine = balances.cards
        recent: list[BatchRecord] = []
        with reading(self.sessions) as s:
            latest = s.execute(
                select(SettlementBatch, Alert.account_id)
                .join(Alert, Alert.id == SettlementBatch.alert_id)
                .where(settle.authorizer.here())
                .order_by(SettlementBatch.id.desc())
                .limit(50)
            ).all()
            mine_accounts = settle.settleable_accounts(s, user_id, {account_id for _, account_id in latest})
            for batch, account_id in latest:  # read in full only what this user may see
                if account_id not in mine_accounts:
                    continue
                record = batch_record(s, batch)
                if record.status in (BatchStatus.SUCCEEDED, BatchStatus.PARTIAL):
                    recent.append(record)
                    if len(recent) == RECENT:
                        break
        return HomeSummary(
            user_id=user_id,
            balances=tuple(mine),
            count=balances.count,
            totals=balances.totals,
            others_open=balances.open_total - balances.count,
            every_account=settle.authorizer.decide(user_id, "", tuple(settle.authorizer.global_admins)).allowed,
            recent=tuple(recent),
        )

    def opened(self, user_id: str) -> None:
        """`app_home_opened`: publish this user's Home, and keep it up to date from now on."""
        now, team = datetime.now(UTC), current_workspace()
        with transaction(self.sessions) as s:
            row = {"user_id": user_id, "opened_at": now, "team_id": team}
            if insert_ignore(s, HomeViewer, row, ["user_id"]) is None:
                viewer = s.get(HomeViewer, user_id)
                if viewer is not None:
                    viewer.opened_at, viewer.team_id = now, team
        self.publish(user_id)

    def publish(self, user_id: str) -> None:
        try:
            summary = self.summary(user_id)
            with use(self.languages.of(user_id)):
                view = self.renderer.view(summary)
            self.gateway.publish_home(user_id, view)
        except SlackError as exc:
            log.info("home of %s not published: %s", user_id, exc.code)

    def changed(self) -> None:
        """Balances changed: every open Home is published again shortly (bursts coalesce)."""
        self._dirty.set()
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="settle-home", daemon=True)
                self._worker.start()

    def publish_all(self) -> int:
        cutoff = datetime.now(UTC) - VIEWER_TTL
        with transaction(self.sessions) as s:
            s.execute(delete(HomeViewer).where(HomeViewer.opened_at < cutoff))
            users = s.execute(select(HomeViewer.user_id, HomeViewer.team_id).order_by(HomeViewer.user_id)).all()
        for user_id, team in users:
            with in_workspace(team):  # each Home in its own workspace, with that workspace's token
                self.publish(user_id)
        return len(users)

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(timeout=30):
                return  # idle: the next change starts a worker again
            if self._stop.wait(self.debounce):
                return
            self._dirty.clear()
            try:
                self.publish_all()
            except Exception:
                log.exception("homes not published")
