"""Installing Settle into many Slack workspaces (OAuth): slack_sdk's SQLAlchemy stores in Settle's
own database, Bolt's OAuth flow at /slack/install and /slack/oauth_redirect, and the clean-up when a
workspace removes Settle. Only used with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.error import BoltError
from slack_bolt.listener.builtins import TokenRevocationListeners
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.workspaces import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH, InstalledWorkspaces
from storage import audit
from storage.db import transaction
from storage.token_cipher import TokenCipher

log = logging.getLogger(__name__)

NAME_LENGTH = 200  # slack_sdk's team_name and enterprise_name columns
STATE_SECONDS = 600  # an install started must be finished within ten minutes


_TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
_BOT_TOKEN_FIELDS = ("bot_token", "bot_refresh_token")


class AuditedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's store with its tokens encrypted at rest (storage/token_cipher.py); each install is
    audited and drops this replica's cached token at once."""

    def __init__(self, client_id: str, engine: Engine, sessions: sessionmaker[Session], cipher: TokenCipher) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=log)
        self.sessions = sessions
        self.cipher = cipher
        self.saved: Callable[[str | None], None] = lambda team: None  # told the team just installed

    def save_bot(self, bot: Bot) -> None:
        sealed = copy.copy(bot)
        sealed.bot_token = self.cipher.seal(bot.bot_token) or ""
        sealed.bot_refresh_token = self.cipher.seal(bot.bot_refresh_token)
        super().save_bot(sealed)

    def build_bot_entity(self, row: Any) -> Bot:  # type: ignore[override]
        bot = super().build_bot_entity(row)
        bot.bot_token = self.cipher.open(bot.bot_token) or ""
        bot.bot_refresh_token = self.cipher.open(bot.bot_refresh_token)
        return bot

    def build_installation_entity(self, row: Any) -> Installation:  # type: ignore[override]
        found = super().build_installation_entity(row)
        for field in _TOKEN_FIELDS:
            setattr(found, field, self.cipher.open(getattr(found, field)))
        return found

    def rotate(self) -> int:
        """Every stored token sealed again with the first key (or sealed, if stored before encryption);
        how many rows changed. One transaction: a key missing for any row changes nothing."""
        changed = 0
        with self.engine.begin() as conn:
            for table, fields in ((self.installations, _TOKEN_FIELDS), (self.bots, _BOT_TOKEN_FIELDS)):
                for row in conn.execute(select(table.c.id, *(table.c[f] for f in fields))).mappings():
                    values = {f: self.cipher.reseal(row[f]) for f in fields}
                    if any(values[f] != row[f] for f in fields):
                        conn.execute(update(table).where(table.c.id == row["id"]).values(**values))
                        changed += 1
        return changed

    def save(self, installation: Installation) -> None:
        # names are for showing: clipped to slack_sdk's columns rather than refused (PostgreSQL would)
        installation.team_name = (installation.team_name or "")[:NAME_LENGTH] or None
        installation.enterprise_name = (installation.enterprise_name or "")[:NAME_LENGTH] or None
        sealed = copy.copy(installation)
        for field in _TOKEN_FIELDS:
            setattr(sealed, field, self.cipher.seal(getattr(installation, field)))
        try:
            super().save(sealed)  # and its bot, through save_bot (sealing twice leaves it as it is)
        except SQLAlchemyError as exc:  # Bolt shows its failure page only for a BoltError
            log.error("install of workspace %s not saved: %s", installation.team_id, type(exc).__name__)
            raise BoltError("storage_error") from exc
        with transaction(self.sessions) as s:
            audit.record(
                s,
                "workspace_installed",
                actor=installation.user_id,
                team_id=installation.team_id,
                team_name=installation.team_name,
                scopes=installation.bot_scopes,
            )
        self.saved(installation.team_id)


class OneTimeStateStore(SQLAlchemyOAuthStateStore):
    """slack_sdk's state store with a `consume` that is atomic across replicas (its own reads the row,
    then deletes it: two callbacks racing with one state could both pass) and expired states purged."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(expiration_seconds=STATE_SECONDS, engine=engine, logger=log)

    def issue(self, *args: Any, **kwargs: Any) -> str:
        c = self.oauth_states.c
        with self.engine.begin() as conn:
            conn.execute(self.oauth_states.delete().where(c.expire_at <= normalize_datetime_for_db(datetime.now(UTC))))
        return super().issue(*args, **kwargs)

    def consume(self, state: str) -> bool:
        c = self.oauth_states.c
        now = normalize_datetime_for_db(datetime.fromtimestamp(time.time(), tz=UTC))
        with self.engine.begin() as conn:
            gone = conn.execute(self.oauth_states.delete().where(c.state == state, c.expire_at > now))
            return bool(gone.rowcount == 1)


@dataclass(frozen=True)
class InstallPages:
    """Settle's own pages for the install (bot/web/pages/install.py): the start, success and failure."""

    start: Callable[[str], str]  # the page with the "Add to Slack" link
    success: Callable[[Any], BoltResponse]
    failure: Callable[[Any], BoltResponse]


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str
    public_base: str


class SettleOAuthFlow(OAuthFlow):
    """Bolt's OAuth flow with Settle's own install page."""

    start_page: Callable[[str], str] = staticmethod(lambda url: url)

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        return self.start_page(url)


class CachedAuthorize(Authorize):
    """Bolt's check of each request's workspace, from the installed workspaces' cache: the bot as it
    was installed (ids and scopes come with it), no database read and no auth.test before the ack.
    A workspace without a token now (never installed, or removed) is refused, as Bolt's own does."""

    def __init__(self, workspaces: InstalledWorkspaces) -> None:
        super().__init__()
        self.workspaces = workspaces

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        bot = self.workspaces.bot(team_id) if team_id else None
        if bot is None:
            log.info("a request from workspace %s, which has not installed Settle: refused", team_id)
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
        )


def oauth_flow(
    config: OAuthConfig, pages: InstallPages, store: InstallationStore, engine: Engine, client: WebClient
) -> SettleOAuthFlow:
    """The code is exchanged through `client` (its base_url: Slack's API, or a stand-in in tests)."""
    flow = SettleOAuthFlow(client=client, logger=log, settings=_oauth_settings(config, pages, store, engine))
    flow.start_page = pages.start
    return flow


def _oauth_settings(
    config: OAuthConfig, pages: InstallPages, store: InstallationStore, engine: Engine
) -> OAuthSettings:
    return OAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=config.public_base + REDIRECT_PATH,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        installation_store_bot_only=True,
        state_store=OneTimeStateStore(engine),
        state_expiration_seconds=STATE_SECONDS,
        callback_options=CallbackOptions(success=pages.success, failure=pages.failure),
    )


def register_uninstall(
    app: App, store: InstallationStore, sessions: sessionmaker[Session], forget: Callable[[str | None], None]
) -> None:
    """An audit row, Bolt's own clean-up (the tokens deleted from the store), then this replica forgets
    the token (others within a minute, or at Slack's first `token_revoked`).
    The workspace's alerts are kept: they are posted if it installs Settle again."""
    builtin = TokenRevocationListeners(store)

    def uninstalled(context: BoltContext) -> None:
        _audited(sessions, "workspace_uninstalled", context.team_id)
        builtin.handle_app_uninstalled_events(context)
        forget(context.team_id)

    def revoked(event: dict[str, Any], context: BoltContext) -> None:
        bot = bool((event.get("tokens") or {}).get("bot"))
        if bot:
            _audited(sessions, "workspace_token_revoked", context.team_id)
        builtin.handle_tokens_revoked_events(event, context)
        if bot:
            forget(context.team_id)

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)


def _audited(sessions: sessionmaker[Session], action: str, team: str | None) -> None:
    """Recorded before the token goes, so whoever sees it gone finds why."""
    with transaction(sessions) as s:
        audit.record(s, action, team_id=team)
    log.warning("workspace %s: %s; its alerts wait until it installs Settle again", team, action.split("_", 1)[1])
