"""Who may settle an account: its admins plus SETTLE_ADMINS, users or user groups (S...), and what a
request from one workspace may see.

Checked on the server at every step; group membership comes from usergroups.users.list, cached
briefly so a burst of clicks costs one Slack call, and asked outside any database transaction.
Errors fail closed."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.chat import SlackError, SlackGateway, Workspaces
from bot.domain.errors import Decision, NotSettleable, Refused
from bot.domain.workspace import Requester, Scope, sees
from bot.read.balances import MaySettle
from storage import audit
from storage.db import read_rows, transaction
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


class Authorizer:
    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        gateway: SlackGateway,
        workspaces: Workspaces,
        global_admins: list[str],
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.gateway = gateway
        self.workspaces = workspaces
        self.global_admins = tuple(global_admins)
        self._groups: dict[tuple[str | None, str], tuple[float, frozenset[str]]] = {}
        self._alerts: dict[int, tuple[float, AlertAdmins, str | None]] = {}
        self._lock = threading.Lock()

    # --- what a workspace sees ---------------------------------------------------------------------

    def scope(self, team: str | None) -> Scope | None:
        """What a request from `team` may see: with many workspaces installed, its own (and what
        belongs to none when it is the only one installed); None when nothing is kept apart."""
        if not self.workspaces.multi or team is None:
            return None
        return Scope(team, unassigned=self.workspaces.resolve(None) == team)

    # --- who may settle ----------------------------------------------------------------------------

    def for_alert(self, alert_id: int, scope: Scope | None, *, max_age: float = 0.0) -> AlertAdmins | None:
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
                return hit[1] if sees(scope, hit[2]) else None
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
        if not sees(scope, team):
            log.warning("alert %s is in workspace %s, not %s: refused", alert_id, team, scope.team if scope else None)
            return None
        return found

    def decide(self, who: Requester, account_name: str, admins: tuple[str, ...]) -> Decision:
        """Outside any transaction: user-group membership may cost a Slack call."""
        user = who.user_id
        if not user:
            return Decision(False, account_name, admins)
        allowed = user in admins or any(user in self.group_members(who.team_id, g) for g in admins if g.startswith("S"))
        return Decision(allowed, account_name, admins)

    def with_global(self, own: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*own, *self.global_admins]))

    def may_settle(self, who: Requester) -> MaySettle:
        """For the read model: given each account's own admins, the accounts `who` may settle."""

        def mine(admins: dict[str, tuple[str, ...]]) -> set[str]:
            return {a for a, own in admins.items() if self.decide(who, "", self.with_global(own)).allowed}

        return mine

    def every_account(self, who: Requester) -> bool:
        """One of SETTLE_ADMINS (directly or by group)."""
        return self.decide(who, "", self.global_admins).allowed

    def authorize(self, who: Requester, alert_id: int, *, max_age: float = 0.0, action: str = "settle") -> Decision:
        """May this user settle (or snooze, assign: `action`) this alert's account? `max_age` only for
        the click's loading view."""
        scope = self.scope(who.team_id)
        found = self.for_alert(alert_id, scope, max_age=max_age)
        if found is None:
            raise NotSettleable("gone")
        account_id, name, admins = found
        decision = self.decide(who, name, admins)
        if not decision.allowed and max_age > 0:
            # a recent answer may only ever let the loading view open sooner, never refuse someone
            # whose rights were just granted (Stripe metadata, `settle accounts map`)
            return self.authorize(who, alert_id, action=action)
        if not decision.allowed:
            with transaction(self.sessions) as s:
                audit.record(
                    s,
                    "settle_refused",
                    actor=who.user_id or "unknown",
                    account_id=account_id,
                    alert_id=alert_id,
                    refused=action,
                )
            raise Refused(decision, action=action)
        return decision

    def group_members(self, team: str | None, group_id: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get((team, group_id))
            if cached and cached[0] > now:
                return cached[1]
        try:
            users = frozenset(self.gateway.usergroup_members(team, group_id))
        except SlackError as exc:
            log.warning("usergroups.users.list %s failed: %s", group_id, exc.code)
            users = frozenset()
        with self._lock:
            self._groups[(team, group_id)] = (now + GROUP_TTL_SECONDS, users)
        return users
