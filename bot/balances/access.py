"""Who may settle an account: its admins plus SETTLE_ADMINS, users or user groups (S...).

Checked on the server at every step; group membership comes from usergroups.users.list, cached
briefly so a burst of clicks costs one Slack call. Errors fail closed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, SQLColumnExpression, bindparam, or_, select, true

from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.workspaces import current_workspace, workspaces_of
from storage.db import read_rows
from storage.models import Account, AccountAdmin, Alert

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 60.0
CLICK_CACHE_SECONDS = 5.0

AlertAdmins = tuple[str, str, tuple[str, ...]]

_ALERT_ADMINS = (
    select(Alert.account_id, Account.name, AccountAdmin.slack_id, Alert.team_id)
    .select_from(Alert)
    .outerjoin(Account, Account.id == Alert.account_id)
    .outerjoin(AccountAdmin, AccountAdmin.account_id == Alert.account_id)
    .where(Alert.id == bindparam("alert_id"))
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    account_name: str
    admins: tuple[str, ...]  # user and group ids that may settle, for the refusal message


class Authorizer:
    def __init__(self, engine: Engine, gateway: SlackGateway, global_admins: list[str]) -> None:
        self.engine = engine
        self.gateway = gateway
        self.global_admins = list(global_admins)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._alerts: dict[int, tuple[float, AlertAdmins, str | None]] = {}
        self._lock = threading.Lock()
        # with OAuth, a request sees only what belongs to its own workspace
        self.workspaces = workspaces_of(gateway)

    def _asking(self) -> tuple[str, bool] | None:
        """The workspace a Slack request comes from, and whether it is the only one installed (then
        what belongs to no workspace is its too); None when nothing is to be kept apart."""
        asking = current_workspace()
        if not self.workspaces.multi or asking is None:
            return None
        return asking, self.workspaces.resolve(None) == asking

    def sees(self, team: str | None) -> bool:
        """May the request see what belongs to this workspace (an alert's, an account's)?"""
        scope = self._asking()
        return scope is None or team == scope[0] or (team is None and scope[1])

    def _seen(self, team: SQLColumnExpression[str | None]) -> ColumnElement[bool]:
        """`sees` as SQL, for a query's rows."""
        scope = self._asking()
        if scope is None:
            return true()
        return or_(team == scope[0], team.is_(None)) if scope[1] else team == scope[0]

    def here(self) -> ColumnElement[bool]:
        """The alerts a Slack request may see or act on: with many workspaces installed, those posted
        in its own (an alert not yet posted anywhere is no workspace's yet); otherwise all."""
        return self._seen(Alert.team_id)

    def accounts_here(self) -> ColumnElement[bool]:
        """The accounts a Slack request may learn of: with many workspaces, those of its own."""
        return self._seen(Account.team)

    def for_alert(self, alert_id: int, *, max_age: float = 0.0) -> AlertAdmins | None:
        """(account id, account name, admins) of an alert in one query, or None.

        With `max_age` a recent answer may be reused: only the click's loading view uses that; the
        form it then fills, and every submission, check afresh.

        An alert posted in another Slack workspace than the request's is not found: with OAuth, a
        button value naming another workspace's alert settles nothing."""
        now = time.monotonic()
        if max_age > 0:
            with self._lock:
                hit = self._alerts.get(alert_id)
            if hit is not None and now - hit[0] <= max_age:
                return hit[1] if self.sees(hit[2]) else None
        rows = read_rows(self.engine, _ALERT_ADMINS, {"alert_id": alert_id})
        if not rows:
            return None
        account_id, name, team = rows[0][0], rows[0][1] or rows[0][0], rows[0][3]
        own = [r[2] for r in rows if r[2]]
        found = (account_id, name, tuple(dict.fromkeys([*own, *self.global_admins])))
        with self._lock:
            if len(self._alerts) > 10_000:
                self._alerts.clear()
            self._alerts[alert_id] = (now, found, team)
        if not self.sees(team):
            log.warning("alert %s is in workspace %s, not %s: refused", alert_id, team, current_workspace())
            return None
        return found

    def decide(self, user_id: str | None, account_name: str, admins: tuple[str, ...]) -> Decision:
        """Outside any transaction: user-group membership may cost a Slack call."""
        if not user_id:
            return Decision(False, account_name, admins)
        allowed = user_id in admins or any(user_id in self.group_members(g) for g in admins if g.startswith("S"))
        return Decision(allowed, account_name, admins)

    def group_members(self, group_id: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(group_id)
            if cached and cached[0] > now:
                return cached[1]
        try:
            users = frozenset(self.gateway.usergroup_members(group_id))
        except SlackError as exc:
            log.warning("usergroups.users.list %s failed: %s", group_id, exc.code)
            users = frozenset()
        with self._lock:
            self._groups[group_id] = (now + GROUP_TTL_SECONDS, users)
        return users
