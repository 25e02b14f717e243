"""The monthly report in Slack: last month's recovered revenue posted early in the new month to each
workspace, with its own accounts' figures, in its own alert channel. The poll asks every cycle (one
query when nothing is due); one process claims each workspace's month; a failed post waits an hour
before it is built and tried again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.routing import default_channel
from bot.domain.chat import SlackError, SlackGateway, Workspaces
from bot.domain.workspace import Scope
from bot.read.report import MonthReport, build_report, month_bounds, previous_month, report_text
from storage import audit
from storage.db import reading, transaction
from storage.models import AlertInvoice, MonthlyReport
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Posted:
    month: str
    team: str | None
    channel: str


class ReportPoster:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SlackGateway,
        workspaces: Workspaces,
        fallback_channel: str | None,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.workspaces = workspaces
        self.fallback_channel = fallback_channel

    def teams(self) -> list[str | None]:
        """Every workspace a report goes to: the one bot token's (None), or each one installed."""
        installed = self.workspaces.installed()
        return [None] if installed is None else [*sorted(installed)]

    def scope(self, team: str | None) -> Scope | None:
        """A workspace's own accounts (with one bot token: every account)."""
        if team is None or not self.workspaces.multi:
            return None
        return Scope(team, unassigned=self.workspaces.resolve(None) == team)

    def post_due(self, now: datetime | None = None) -> list[Posted]:
        """Last month's report, posted by this call to each workspace that had not had it yet."""
        now = now or datetime.now(UTC)
        month = previous_month(now)
        with reading(self.sessions) as s:
            settled = set(
                s.scalars(
                    select(MonthlyReport.team_id).where(
                        MonthlyReport.month == month,
                        or_(MonthlyReport.posted_at.is_not(None), MonthlyReport.retry_at > now),
                    )
                )
            )
            wanted = [team for team in self.teams() if (team or "") not in settled]
            if not wanted:
                return []
            first_alert = s.scalar(select(AlertInvoice.created_at).order_by(AlertInvoice.created_at).limit(1))
            if first_alert is None or first_alert >= month_bounds(month)[1]:
                return []  # Settle was not running yet that month
            channels = {team: default_channel(s, team, self.fallback_channel) for team in wanted}
        posted = []
        for team in wanted:
            channel = channels[team]
            if channel is None or not self._claim(month, team or "", now):
                continue
            with reading(self.sessions) as s:
                report = build_report(s, month, self.scope(team))
            try:
                self.post(team, channel, report)
            except SlackError as exc:
                log.warning("monthly report %s not posted in %s (%s): tried again in an hour", month, team, exc.code)
                continue
            with transaction(self.sessions) as s:
                row = s.get(MonthlyReport, (month, team or ""))
                if row is not None:
                    row.posted_at, row.channel = datetime.now(UTC), channel
                audit.record(s, "monthly_report_posted", month=month, channel=channel, team_id=team)
            posted.append(Posted(month, team, channel))
        return posted

    def _claim(self, month: str, team: str, now: datetime) -> bool:
        with transaction(self.sessions) as s:
            values = {"month": month, "team_id": team, "claimed_at": now, "retry_at": now + RETRY_AFTER}
            if insert_ignore(s, MonthlyReport, values, ["month", "team_id"]) is not None:
                return True
            won = cast(
                CursorResult[Any],
                s.execute(
                    update(MonthlyReport)
                    .where(
                        MonthlyReport.month == month,
                        MonthlyReport.team_id == team,
                        MonthlyReport.posted_at.is_(None),
                        MonthlyReport.retry_at <= now,
                    )
                    .values(claimed_at=now, retry_at=now + RETRY_AFTER)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            return won == 1

    def post(self, team: str | None, channel: str, report: MonthReport) -> None:
        # matplotlib is imported only when a chart is drawn: start-up time
        from bot.read.report_chart import chart_png

        comment = f"📊 Recovered revenue, {report.month}\n```\n{report_text(report)}\n```"
        self.gateway.upload(
            team, channel, f"settle-{report.month}.png", chart_png(report), f"Settle {report.month}", comment
        )

    def post_now(self, month: str) -> list[Posted]:
        """`settle report --post`: the month's report to each workspace's channel, now (not claimed)."""
        with reading(self.sessions) as s:
            channels = {team: default_channel(s, team, self.fallback_channel) for team in self.teams()}
        posted = []
        for team, channel in channels.items():
            if channel is None:
                continue
            with reading(self.sessions) as s:
                report = build_report(s, month, self.scope(team))
            self.post(team, channel, report)
            posted.append(Posted(month, team, channel))
        return posted
