"""A morning list for each admin: once on working days at 09:00 in their own Slack time zone, a direct
message with the balances they may settle or are assigned, oldest and largest first, each with its
Settle button; nothing when nothing is open; `/settle digest off|on` stops or starts it. Each list is
claimed once per person per day (a row whose insert wins), so replicas running the same job send it
once."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.balances.access import Authorizer
from bot.domain.chat import SlackError, SlackGateway
from bot.domain.slack_ids import GROUP, USER
from bot.domain.states import ALERT_DONE
from bot.domain.workspace import Requester
from bot.i18n import use
from bot.read.balances import admins_of, open_balances
from bot.read.cards import AlertCard, cards
from bot.read.scope import visible
from bot.slack.languages import UserLanguages, UserTimeZones
from storage import audit
from storage.db import reading, transaction
from storage.models import Alert, MorningList, UserSetting
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

SEND_AT = time(9, 0)  # in each admin's own time zone
LATEST = time(12, 0)  # a list not sent by noon (Settle was down all morning) waits for the next working day
SHOWN = 15


@dataclass(frozen=True)
class MorningSummary:
    user_id: str
    cards: tuple[AlertCard, ...]  # oldest and largest first
    count: int  # how many there are in all
    totals: tuple[tuple[str, int], ...]  # (currency, minor units) owed on them
    assigned: frozenset[int]  # the alerts among them assigned to this person


class MorningRenderer(Protocol):
    def text(self, summary: MorningSummary) -> str: ...

    def blocks(self, summary: MorningSummary) -> list[Any]: ...


class MorningLists:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        access: Authorizer,
        gateway: SlackGateway,
        renderer: MorningRenderer,
        languages: UserLanguages,
        zones: UserTimeZones,
    ) -> None:
        self.sessions = sessions
        self.access = access
        self.gateway = gateway
        self.renderer = renderer
        self.languages = languages
        self.zones = zones

    # --- the job ------------------------------------------------------------------------------------

    def run(self, now: datetime | None = None) -> int:
        """Every few minutes, on every replica: whoever's 09:00 has come gets their list. How many were sent."""
        now = now or datetime.now(UTC)
        people = self._candidates()
        off = self._off(people)
        sent = 0
        for team, user in sorted(people, key=lambda p: (p[0] or "", p[1])):
            if (team, user) in off:
                continue
            offset = self.zones.offset(user, team)
            if offset is None:
                continue  # their time zone is not known right now: not a guess that sends it at 01:00
            local = now + timedelta(seconds=offset)
            if local.weekday() >= 5 or not SEND_AT <= local.time() < LATEST:
                continue
            if self._send(team, user, local.date().isoformat()):
                sent += 1
        return sent

    def _send(self, team: str | None, user: str, day: str) -> bool:
        with reading(self.sessions) as s:
            if s.get(MorningList, (team or "", user, day)) is not None:
                return False  # sent today: nothing more is read for it
        summary = self.summary(team, user)
        if not summary.count:
            return False  # nothing open: nothing sent (and nothing claimed: a decline later this morning counts)
        with transaction(self.sessions) as s:
            won = insert_ignore(
                s,
                MorningList,
                {
                    "team_id": team or "",
                    "user_id": user,
                    "day": day,
                    "sent_at": datetime.now(UTC),
                    "balances": summary.count,
                },
                ["team_id", "user_id", "day"],
            )
        if won is None:
            return False  # sent already today (here or on another replica)
        with use(self.languages.of(user, team)):
            text, blocks = self.renderer.text(summary), self.renderer.blocks(summary)
        try:
            self.gateway.post(team, user, text, blocks)
        except SlackError as exc:
            log.warning("morning list for %s not sent (%s): tried again on the next run", user, exc.code)
            with transaction(self.sessions) as s:  # not sent: the claim goes, so a later run sends it
                s.execute(
                    delete(MorningList).where(
                        MorningList.team_id == (team or ""), MorningList.user_id == user, MorningList.day == day
                    )
                )
            return False
        with transaction(self.sessions) as s:
            audit.record(
                s, "morning_list_sent", actor="settle", user=user, team_id=team, day=day, balances=summary.count
            )
        return True

    def summary(self, team: str | None, user: str) -> MorningSummary:
        """What `user` may settle or is assigned, oldest and largest first."""
        who = Requester(user, team)
        scope = self.access.scope(team)
        mine = open_balances(self.sessions, scope, self.access.may_settle(who), limit=SHOWN)
        with reading(self.sessions) as s:
            assigned_ids = list(
                s.scalars(
                    select(Alert.id)
                    .where(Alert.assignee == user, Alert.state.not_in(ALERT_DONE), visible(scope, Alert.team_id))
                    .order_by(Alert.id)
                    .limit(SHOWN)
                )
            )
            extra = [c for c in cards(s, assigned_ids) if c.alert_id not in {m.alert_id for m in mine.cards}]
        shown = sorted([*mine.cards, *extra], key=_oldest_and_largest)[:SHOWN]
        totals = dict(mine.totals)
        for card in extra:
            for line in card.open_invoices:
                totals[line.currency] = totals.get(line.currency, 0) + line.amount_minor
        return MorningSummary(
            user_id=user,
            cards=tuple(shown),
            count=mine.count + len(extra),
            totals=tuple(sorted(totals.items())),
            assigned=frozenset(assigned_ids),
        )

    # --- who gets one -------------------------------------------------------------------------------

    def _candidates(self) -> set[tuple[str | None, str]]:
        """The people who may settle an open balance (its account's admins and SETTLE_ADMINS, groups
        expanded) or are assigned one, per workspace."""
        with reading(self.sessions) as s:
            rows = s.execute(
                select(Alert.account_id, Alert.team_id, Alert.assignee).where(Alert.state.not_in(ALERT_DONE)).distinct()
            ).all()
            admins = admins_of(s, {account_id for account_id, _, _ in rows})
        people: set[tuple[str | None, str]] = set()
        multi = self.access.workspaces.multi
        for account_id, row_team, assignee in rows:
            team = row_team if multi else None  # one workspace: one list per person, whatever the rows say
            for who in self._people(team, self.access.with_global(admins.get(account_id, ()))):
                people.add((team, who))
            if assignee and USER.match(assignee):
                people.add((team, assignee))
        return people

    def _people(self, team: str | None, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for slack_id in ids:
            if USER.match(slack_id):
                found.add(slack_id)
            elif GROUP.match(slack_id):
                found |= {u for u in self.access.group_members(team, slack_id) if USER.match(u)}
        return found

    def _off(self, people: set[tuple[str | None, str]]) -> set[tuple[str | None, str]]:
        users = {user for _, user in people}
        if not users:
            return set()
        with reading(self.sessions) as s:
            rows = s.execute(
                select(UserSetting.team_id, UserSetting.user_id).where(
                    UserSetting.user_id.in_(users), UserSetting.morning_list.is_(False)
                )
            ).all()
        return {(team or None, user) for team, user in rows}

    # --- /settle digest off|on ---------------------------------------------------------------------

    def enabled(self, who: Requester) -> bool:
        team = (who.team_id or "") if self.access.workspaces.multi else ""
        with reading(self.sessions) as s:
            row = s.get(UserSetting, (team, who.user_id or ""))
            return row is None or row.morning_list

    def set_enabled(self, who: Requester, enabled: bool) -> None:
        user = who.user_id or ""
        team = (who.team_id or "") if self.access.workspaces.multi else ""  # one workspace: its lists have none
        with transaction(self.sessions) as s:
            row = s.get(UserSetting, (team, user))
            if row is None:
                row = UserSetting(team_id=team, user_id=user, morning_list=enabled)
                s.add(row)
            row.morning_list = enabled
            audit.record(s, "morning_list_on" if enabled else "morning_list_off", actor=user, team_id=who.team_id)


def _oldest_and_largest(card: AlertCard) -> tuple[str, int]:
    opened = (card.opened_at or card.declined_at).date().isoformat()
    return opened, -sum(line.amount_minor for line in card.open_invoices)
