"""Who may settle an account: its admins plus SETTLE_ADMINS, users or user groups (S...).

Checked on the server at every step; group membership comes from usergroups.users.list, cached
briefly so a burst of clicks costs one Slack call. Errors fail closed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, select

from bot.slack_gateway import SlackError, SlackGateway
from storage.db import read_rows
from storage.models import Account, AccountAdmin, Alert

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 60.0
CLICK_CACHE_SECONDS = 5.0

AlertAdmins = tuple[str, str, tuple[str, ...]]

_ALERT_ADMINS = (
    select(Alert.account_id, Account.name, AccountAdmin.slack_id)
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
        self._alerts: dict[int, tuple[float, AlertAdmins]] = {}
        self._lock = threading.Lock()

    def for_alert(self, alert_id: int, *, max_age: float = 0.0) -> AlertAdmins | None:
        """(account id, account name, admins) of an alert in one query, or None.

        With `max_age` a recent answer may be reused: only the click's loading view uses that; the
        form it then fills, and every submission, check afresh."""
        now = time.monotonic()
        if max_age > 0:
            with self._lock:
                hit = self._alerts.get(alert_id)
            if hit is not None and now - hit[0] <= max_age:
                return hit[1]
        rows = read_rows(self.engine, _ALERT_ADMINS, {"alert_id": alert_id})
        if not rows:
            return None
        account_id, name = rows[0][0], rows[0][1] or rows[0][0]
        own = [r[2] for r in rows if r[2]]
        found = (account_id, name, tuple(dict.fromkeys([*own, *self.global_admins])))
        with self._lock:
            if len(self._alerts) > 10_000:
                self._alerts.clear()
            self._alerts[alert_id] = (now, found)
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
