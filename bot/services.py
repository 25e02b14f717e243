"""Everything a process needs, built once from Settings and handed to the CLI, app and scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import AlertDeliverer
from bot.authz import Authorizer
from bot.billing.base import BillingProvider
from bot.billing.registry import ProviderUnavailable, make_provider
from bot.errors import SettleError
from bot.poller import Poller
from bot.settings import Settings
from bot.slack_gateway import SlackGateway, WebSlackGateway, make_web_client
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    provider: BillingProvider
    web: WebClient
    gateway: SlackGateway
    public_base: str
    authorizer: Authorizer

    def deliverer(self) -> AlertDeliverer:
        return AlertDeliverer(self.sessions, self.gateway, self.settings.alert_channel)

    def poller(self) -> Poller:
        from handlers.publisher import settlement_service

        settle, _ = settlement_service(self)
        return Poller(self.sessions, self.provider, self.deliverer(), reconcile=settle.reconcile)


def open_database(url: str, *, migrate: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    try:
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise SettleError(f"cannot use the database at {_safe(url)}: {reason}") from None
    except ModuleNotFoundError as exc:
        raise SettleError(f"DATABASE_URL {_safe(url)} needs the Python package {exc.name!r}") from None
    except Exception as exc:  # bad URL syntax and the like
        if "Could not parse" in str(exc) or "Can't load plugin" in str(exc):
            raise SettleError(f"DATABASE_URL is not a valid database URL: {_safe(url)}") from None
        raise
    return engine, make_session_factory(engine)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable>"


def build_services(
    settings: Settings, *, port: int = 3000, gateway: SlackGateway | None = None, migrate: bool = True
) -> Services:
    engine, sessions = open_database(settings.database_url, migrate=migrate)
    public_base = settings.public_base(port)
    try:
        provider = make_provider(settings, sessions, public_base)
    except ProviderUnavailable as exc:
        raise SettleError(str(exc)) from None
    web = make_web_client(settings.slack_bot_token, settings.slack_api_url)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        provider=provider,
        web=web,
        gateway=gateway or WebSlackGateway(web),
        public_base=public_base,
        authorizer=Authorizer(sessions, web, settings.admins),
    )


def require_slack(settings: Settings, *, signing: bool = False) -> None:
    if not settings.slack_bot_token:
        raise SettleError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...; see README 'Connect a workspace')")
    if signing and not settings.slack_signing_secret and not settings.slack_app_token:
        raise SettleError("SLACK_SIGNING_SECRET is not set (Basic Information → App Credentials in your Slack app)")
