"""The composition root: the one place that wires a process. Settings → storage → provider → Slack
gateway → domain services → Bolt app, scheduler and HTTP routes.

It is also the only module in bot/ that imports handlers/: the domain reaches the Slack UI through
the protocols in bot/ports.py, which this module fills with handlers' implementations.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from apscheduler.schedulers.base import BaseScheduler
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import handlers
from bot.balances.access import Authorizer
from bot.balances.card_warnings import CardWarnings
from bot.balances.follow_ups import FollowUps
from bot.balances.ingest import Poller
from bot.billing.base import BillingProvider
from bot.billing.registry import ProviderDeps, make_provider
from bot.delivery.home import HomeService
from bot.delivery.outbox import AlertDeliverer
from bot.domain.errors import SettleError
from bot.read.report import ReportPoster
from bot.runtime.scheduler import make_scheduler
from bot.settings import Settings
from bot.settlement.service import SettlementService
from bot.slack.gateway import SlackGateway, WebSlackGateway, make_web_client
from bot.slack.languages import UserLanguages
from bot.slack.pacing import ChannelPacer
from bot.slack.workspaces import ContextPool, InstalledWorkspaces, SingleWorkspace
from bot.web.router import PollHealth, SettleWSGI, WSGIApp
from handlers.adapters.notifier import SlackNotifier
from handlers.blocks.alert_message import AlertMessage
from handlers.listeners.card_warning import CardWarningMessage
from handlers.listeners.home import HomeView
from storage.db import make_engine, make_session_factory
from storage.leases import DbLease
from storage.migrate import upgrade


class _DropTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself even when given a client, then warns at every start that
    it will not use it: true, and noise (Settle's client carries the same token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("settle.bolt")
_BOLT_LOG.addFilter(_DropTokenWarning())


@dataclass
class Settle:
    """Everything one process needs, built once by `build`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    provider: BillingProvider
    web: WebClient
    gateway: SlackGateway
    public_base: str
    authorizer: Authorizer
    deliverer: AlertDeliverer
    settlements: SettlementService
    poller: Poller
    home: HomeService
    follow_ups: FollowUps
    reports: ReportPoster
    languages: UserLanguages
    workspaces: SingleWorkspace | InstalledWorkspaces
    _pools: list[ThreadPoolExecutor] = field(default_factory=list)

    @cached_property
    def bolt(self) -> App:
        settings = self.settings
        oauth: dict[str, object] = {}
        if isinstance(self.workspaces, InstalledWorkspaces):
            from bot.slack.install import CachedAuthorize, oauth_flow

            flow = oauth_flow(settings, self.public_base, self.workspaces.store, self.engine, self.web)
            oauth = {"oauth_flow": flow, "authorize": CachedAuthorize(self.workspaces)}
        app = App(
            signing_secret=settings.slack_signing_secret or "",
            # Requests over HTTP are verified by Bolt (and before it by bot/web/slack_guard.py). In
            # Socket Mode nothing is signed and /slack/events is not served at all.
            request_verification_enabled=not self.socket_mode,
            client=self.web,
            token_verification_enabled=False,  # `settle serve` checks the token itself, with a clearer error
            process_before_response=False,
            logger=_BOLT_LOG,
            # enough workers that a burst of clicks never queues behind slow Slack or provider calls
            listener_executor=self._pool(32, "settle-listener"),
            **oauth,  # type: ignore[arg-type]
        )
        if isinstance(self.workspaces, InstalledWorkspaces):
            from bot.slack.install import register_uninstall

            register_uninstall(app, self.workspaces.store, self.sessions, self.workspaces.forget)
        handlers.register(
            app, self.settlements, self.web, self._pool(4, "settle-fill"), self.home, self.follow_ups, self.languages
        )
        return app

    @property
    def socket_mode(self) -> bool:
        return bool(self.settings.slack_app_token)

    def wsgi(self) -> SettleWSGI:
        pages: WSGIApp | None = None
        if self.settings.billing_provider == "sandbox":
            from bot.billing.sandbox.provider import SandboxProvider
            from bot.web.pages.sandbox import SandboxPages

            assert isinstance(self.provider, SandboxProvider)
            pages = SandboxPages(self.provider, self.settlements)
        elif self.settings.billing_provider == "stripe":
            from bot.billing.stripe.provider import StripeProvider
            from bot.web.pages.stripe import StripePages

            assert isinstance(self.provider, StripeProvider)
            pages = StripePages(
                self.provider, self.settings.stripe_webhook_secret, self.poller.pushed, self._pool(4, "settle-webhook")
            )
        signing = None if self.socket_mode else self.settings.slack_signing_secret
        return SettleWSGI(
            self.engine,
            signing,
            self.bolt if signing else None,
            pages,
            health=PollHealth(self.poll_lease, self.settings.poll_interval_seconds),
            oauth=isinstance(self.workspaces, InstalledWorkspaces),
        )

    def scheduler(self, *, blocking: bool = False) -> BaseScheduler:
        return make_scheduler(
            self.poller, self.settings.poll_interval_seconds, blocking=blocking, lease=self.poll_lease
        )

    @cached_property
    def poll_lease(self) -> DbLease:
        """One replica polls at a time; another takes over within about an interval if it dies."""
        from datetime import timedelta

        from bot.delivery.outbox import new_owner

        ttl = timedelta(seconds=self.settings.poll_interval_seconds)
        return DbLease(self.sessions, "poll", new_owner(), ttl)

    def close(self, *, wait: bool = False, cancel: bool = False) -> None:
        """Release the pools and the database; with `wait`, after the work under way has finished;
        with `cancel`, work queued but not started is dropped."""
        self.settlements.stopping.set()
        self.home.stop()
        for pool in self._pools:
            pool.shutdown(wait=wait, cancel_futures=cancel)
        self.engine.dispose()

    def _pool(self, workers: int, name: str) -> ThreadPoolExecutor:
        pool = ContextPool(max_workers=workers, thread_name_prefix=name)
        self._pools.append(pool)
        return pool


def build(settings: Settings, *, port: int = 3000, gateway: SlackGateway | None = None, migrate: bool = True) -> Settle:
    engine, sessions = open_database(settings.database_url, migrate=migrate)
    public_base = settings.public_base(port)
    provider = make_provider(ProviderDeps(settings, sessions, public_base))
    # with OAuth each workspace's token comes from the installation store: the template client has none
    web = make_web_client(None if settings.oauth else settings.slack_bot_token, settings.slack_api_url)
    workspaces = _workspaces(settings, engine, sessions, web)
    gateway = gateway or WebSlackGateway(workspaces, ChannelPacer(settings.slack_channel_interval))
    authorizer = Authorizer(engine, gateway, settings.admins)
    deliverer = AlertDeliverer(sessions, gateway, AlertMessage(), settings.alert_channel)
    languages = UserLanguages(gateway)
    settlements = SettlementService(
        sessions,
        provider,
        authorizer,
        deliverer,
        SlackNotifier(gateway, languages),
        retry_unknown_after=timedelta(seconds=settings.charge_unknown_after),
    )
    follow_ups = FollowUps(
        sessions,
        settlements,
        deliverer,
        remind_after=settings.remind_after,
        escalate_after=settings.escalate_after,
        escalation_channel=settings.alert_channel,
    )
    reports = ReportPoster(sessions, gateway, settings.alert_channel)
    card_warnings = CardWarnings(sessions, provider, gateway, CardWarningMessage(), settings.alert_channel)
    poller = Poller(
        sessions,
        provider,
        deliverer,
        reconcile=settlements.reconcile,
        hooks=settlements,
        follow_up=follow_ups,
        reports=reports,
        card_warnings=card_warnings,
    )
    home = HomeService(sessions, settlements, gateway, HomeView(), languages)
    deliverer.on_change = home.changed
    return Settle(
        settings=settings,
        engine=engine,
        sessions=sessions,
        provider=provider,
        web=web,
        gateway=gateway,
        public_base=public_base,
        authorizer=authorizer,
        deliverer=deliverer,
        settlements=settlements,
        poller=poller,
        home=home,
        follow_ups=follow_ups,
        reports=reports,
        languages=languages,
        workspaces=workspaces,
    )


def _workspaces(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], web: WebClient
) -> SingleWorkspace | InstalledWorkspaces:
    if not settings.oauth:
        return SingleWorkspace(web)
    from bot.slack.install import AuditedInstallationStore

    store = AuditedInstallationStore((settings.slack_client_id or "").strip(), engine, sessions)
    workspaces = InstalledWorkspaces(store, web)
    store.saved = workspaces.forget  # a new token is used at once on the replica that took the install
    return workspaces


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
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable>"


def require_slack(settings: Settings, *, signing: bool = False) -> None:
    if not settings.slack_bot_token and not settings.oauth:
        raise SettleError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...; see README 'Connect a workspace')")
    if signing and not settings.slack_signing_secret and not settings.slack_app_token:
        raise SettleError("SLACK_SIGNING_SECRET is not set (Basic Information → App Credentials in your Slack app)")
