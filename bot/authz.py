"""Who may settle an account: its admins plus SETTLE_ADMINS, users or user groups (S...).

Checked on the server at every step; group membership comes from usergroups.users.list, cached
briefly so a burst of clicks costs one Slack call. Errors fail closed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import Account

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    account_name: str
    admins: tuple[str, ...]  # user and group ids that may settle, for the refusal message

    def who(self) -> str:
        if not self.admins:
            return "nobody is configured yet (SETTLE_ADMINS or the account's admins)"
        shown = [f"<!subteam^{a}>" if a.startswith("S") else f"<@{a}>" for a in self.admins]
        return ", ".join(shown[:-1]) + (" or " if len(shown) > 1 else "") + shown[-1]


class Authorizer:
    def __init__(self, sessions: sessionmaker[Session], client: WebClient, global_admins: list[str]) -> None:
        self.sessions = sessions
        self.client = client
        self.global_admins = list(global_admins)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def check(self, user_id: str | None, account_id: str) -> Decision:
        with transaction(self.sessions) as s:
            account = s.get(Account, account_id)
            name = account.name if account else account_id
            admins = tuple(
                dict.fromkeys([*(a.slack_id for a in account.admins), *self.global_admins])
                if account
                else dict.fromkeys(self.global_admins)
            )
        if not user_id:
            return Decision(False, name, admins)
        allowed = user_id in admins or any(user_id in self.group_members(g) for g in admins if g.startswith("S"))
        return Decision(allowed, name, admins)

    def group_members(self, group_id: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(group_id)
            if cached and cached[0] > now:
                return cached[1]
        try:
            users = frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError as exc:
            log.warning("usergroups.users.list %s failed: %s", group_id, exc.response.get("error"))
            users = frozenset()
        with self._lock:
            self._groups[group_id] = (now + GROUP_TTL_SECONDS, users)
        return users
