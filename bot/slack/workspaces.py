"""The client holding a workspace's bot token.

With one bot token (the default) every call goes out with it. With OAuth (SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET set) each workspace that installed Settle has its own bot token in the
installation store. Every call names its workspace (bot/domain/chat.py); nothing is ambient.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import select

from bot.domain.chat import WorkspaceUnavailable
from storage.token_cipher import TokenKeyError

log = logging.getLogger(__name__)

# The bot token scopes Settle asks for when a workspace installs it: the same list as manifest.yml's
# oauth_config.scopes.bot (a test keeps the two equal).
BOT_SCOPES = (
    "channels:history",
    "channels:join",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "links:read",
    "links:write",
    "users:read",
    "usergroups:read",
)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
TOKEN_TTL_SECONDS = 60.0  # how long a replica trusts a token it read before reading it again


class SingleWorkspace:
    """One bot token for everything: the default mode."""

    multi = False

    def __init__(self, client: WebClient | None) -> None:
        self._client = client

    def client(self, team_id: str | None) -> WebClient:
        if self._client is None:
            raise WorkspaceUnavailable("no_client")
        return self._client

    def resolve(self, team_id: str | None) -> str | None:
        return team_id

    def installed(self) -> frozenset[str] | None:
        return None  # every team is reachable: there is only the one

    def forget(self, team_id: str | None) -> None:
        pass


class InstalledWorkspaces:
    """Bot tokens from slack_sdk's installation store, one per workspace that installed Settle.

    Tokens are cached for a minute: a replica that missed an uninstall learns of it from Slack's
    `token_revoked` answer (the gateway then forgets the token) or when the minute is up."""

    multi = True

    def __init__(self, store: SQLAlchemyInstallationStore, template: WebClient) -> None:
        self.store = store
        self.template = template
        self._clients: dict[str, tuple[float, tuple[Bot, WebClient] | None]] = {}
        self._teams: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def installed(self) -> frozenset[str]:
        """The teams with a bot token now (one query, cached like the tokens)."""
        now = time.monotonic()
        with self._lock:
            if self._teams is not None and self._teams[0] > now:
                return self._teams[1]
        bots = self.store.bots
        with self.store.engine.connect() as conn:
            teams = frozenset(
                str(t)
                for t in conn.execute(
                    select(bots.c.team_id)
                    # this app's rows only, as the store's find_bot reads them
                    .where(bots.c.bot_token.is_not(None), bots.c.client_id == self.store.client_id)
                    .distinct()
                ).scalars()
                if t
            )
        with self._lock:
            self._teams = (now + TOKEN_TTL_SECONDS, teams)
        return teams

    def resolve(self, team_id: str | None) -> str | None:
        """An account without a workspace belongs to the only one installed, if there is just one."""
        if team_id:
            return team_id
        teams = self.installed()
        return next(iter(teams)) if len(teams) == 1 else None

    def client(self, team_id: str | None) -> WebClient:
        team = self.resolve(team_id)
        if team is None:
            raise WorkspaceUnavailable("no_workspace")
        found = self._installed_bot(team)
        if found is None:
            raise WorkspaceUnavailable("not_installed")
        return found[1]

    def bot(self, team_id: str) -> Bot | None:
        """The workspace's bot (token, ids, scopes) as installed, from the same cache."""
        found = self._installed_bot(team_id)
        return found[0] if found else None

    def _installed_bot(self, team: str) -> tuple[Bot, WebClient] | None:
        now = time.monotonic()
        with self._lock:
            hit = self._clients.get(team)
        if hit is None or hit[0] <= now:
            try:
                bot = self.store.find_bot(enterprise_id=None, team_id=team)
            except TokenKeyError:
                log.error("workspace %s: its bot token opens with none of SETTLE_TOKEN_KEYS", team)
                bot = None
            found = None
            if bot is not None and bot.bot_token:
                t = self.template
                client = WebClient(
                    token=bot.bot_token,
                    base_url=t.base_url,
                    timeout=t.timeout,
                    team_id=team,
                    retry_handlers=list(t.retry_handlers),
                )
                found = (bot, client)
            hit = (now + TOKEN_TTL_SECONDS, found)
            with self._lock:
                self._clients[team] = hit
        return hit[1]

    def forget(self, team_id: str | None) -> None:
        with self._lock:
            self._teams = None
            if team_id:
                self._clients.pop(team_id, None)
            else:
                self._clients.clear()
        log.info("workspace %s: cached bot token dropped", team_id or "(all)")
