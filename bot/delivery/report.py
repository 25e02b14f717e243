"""The monthly report in Slack: last month's recovered revenue posted early in the new month to each
workspace, with its own accounts' figures, in its own alert channel. The poll asks every cycle (one
query when nothing is due); one process claims each workspace's month and writes the report's message
to the outbox, which posts it once (a failed post is retried there, never rebuilt every cycle)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.routing import default_channel
from bot.domain.chat import Workspaces
from bot.read.report import month_bounds, previous_month
from storage.db import reading, transaction
from storage.models import AlertInvoice, Message, MonthlyReport
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Posted:
    month: str
    team: str | None
    channel: str


class ReportPoster:
    def __init__(self, sessions: sessionmaker[Session], workspaces: Workspaces, fallback_channel: str | None) -> None:
        self.sessions = sessions
        self.workspaces = workspaces
        self.fallback_channel = fallback_channel
        self.wake: Callable[[], None] | None = None  # the courier: a report written, to be posted

    def teams(self) -> list[str | None]:
        """Every workspace a report goes to: the one bot token's (None), or each one installed."""
        installed = self.workspaces.installed()
        return [None] if installed is None else [*sorted(installed)]

    def post_due(self, now: datetime | None = None) -> list[Posted]:
        """Last month's report, written by this call for each workspace that had not had it yet."""
        now = now or datetime.now(UTC)
        month = previous_month(now)
        with reading(self.sessions) as s:
            claimed = set(s.scalars(select(MonthlyReport.team_id).where(MonthlyReport.month == month)))
            wanted = [team for team in self.teams() if (team or "") not in claimed]
            if not wanted:
                return []
            first_alert = s.scalar(select(AlertInvoice.created_at).order_by(AlertInvoice.created_at).limit(1))
            if first_alert is None or first_alert >= month_bounds(month)[1]:
                return []  # Settle was not running yet that month
        written = []
        for team in wanted:
            with transaction(self.sessions) as s:
                channel = default_channel(s, team, self.fallback_channel)
                if channel is None:
                    continue
                values = {"month": month, "team_id": team or "", "claimed_at": now, "channel": channel}
                if insert_ignore(s, MonthlyReport, values, ["month", "team_id"]) is None:
                    continue  # another replica claimed it
                s.add(Message(kind="report", team_id=team, channel=channel, detail={"month": month}, created_at=now))
            written.append(Posted(month, team, channel))
        if written and self.wake is not None:
            self.wake()
        return written

    def post_now(self, month: str) -> list[Posted]:
        """`settle report --post`: the month's report to each workspace's channel, now (not claimed)."""
        written = []
        with transaction(self.sessions) as s:
            for team in self.teams():
                channel = default_channel(s, team, self.fallback_channel)
                if channel is not None:
                    s.add(Message(kind="report", team_id=team, channel=channel, detail={"month": month}))
                    written.append(Posted(month, team, channel))
        return written
