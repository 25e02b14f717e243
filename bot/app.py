"""The composition root: the one place that wires a process. Settings → storage → provider → Slack
gateway → domain services → Bolt app, scheduler and HTTP routes; every pool and thread is made here.

It is also the only module in bot/ that imports handlers/: the domain reaches the Slack UI through
the protocols it declares (renderers, the outbox, settlement events), filled here with handlers'
implementations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from urllib.parse import urlsplit

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
from bot.balances.ingest import Ingest
from bot.billing.base import BillingProvider
from bot.billing.registry import ProviderDeps, make_provider
from bot.delivery.courier import Courier
from bot.delivery.fanout import FanOut
from bot.delivery.home import HomePublisher
from bot.delivery.messages import MessageDeliverer
from bot.delivery.morning import MorningLists
from bot.delivery.outbox import AlertDeliverer
from bot.delivery.report import ReportPoster
from bot.delivery.storms import Storms
from bot.domain.chat import SlackGateway
from bot.domain.errors import SettleError
from bot.jobs.poll import PollCycle
from bot.read.unfurls import Unfurls
from bot.runtime.pools import BoundedPool, Timers
from bot.runtime.scheduler import make_scheduler
from bot.settings import Settings
from bot.settlement.approvals import ApprovalPolicy
from bot.settlement.approving import ApprovalDesk
from bot.settlement.asking import CustomerAsks
from bot.settlement.batches import Batches
from bot.settlement.charging import Charger
from bot.settlement.endings import Endings
from bot.settlement.events import SettlementEvents
from bot.settlement.forms import SettleForms
from bot.settlement.hooks import SettlementHooks
from bot.settlement.recovery import Recovery
from bot.settlement.retries import Retries
from bot.slack.client import make_web_client
from bot.slack.gateway import WebSlackGateway
from bot.slack.install import (
    AuditedInstallationStore,
    CachedAuthorize,
    InstallPages,
    OAuthConfig,
    oauth_flow,
    register_uninstall,
)
from bot.slack.languages import UserLanguages, UserTimeZones
from bot.slack.pacing import ChannelPacer
from bot.slack.workspaces import InstalledWorkspaces, SingleWorkspace
from bot.web.pages.install import install_page, installed, not_installed
from bot.web.router import PollHealth, SettleWSGI, WSGIApp
from handlers.adapters.modals import ModalTracker
from handlers.blocks.alert_message import AlertMessage
from handlers.blocks.approval import ApprovalMessage
from handlers.blocks.card_warning import CardWarningMessage
from handlers.blocks.customer_notice import CustomerNoticeMessage
from handlers.blocks.digest import DigestMessage
from handlers.blocks.home import HomeView
from handlers.blocks.morning import MorningMessage
from handlers.support.priority import OpenGate
from handlers.support.services import Services
from storage.db import make_engine, make_session_factory
from storage.leases import DbLease, new_owner
from storage.migrate import upgrade
from storage.token_cipher import TokenCipher


class _DropTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself even when given a client, then warns at every start that
    it will not use it: true, and noise (Settle's client carries the same token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("settle.bolt")
_BOLT_LOG.addFilter(_DropTokenWarning())


@dataclass
class Pools:
    """Every pool of background work a process has, each bounded; shutdown joins them."""

    listeners: BoundedPool  # Bolt's listeners (parse, ack, and the quick work after)
    submissions: BoundedPool  # a submission's work after its ack (confirming, charging): never ahead of an ack
    courier: BoundedPool  # the one thread that posts (bot/delivery/courier.py)
    fill: BoundedPool  # settle forms filled after their loading view opened, Homes opened
    delivery: BoundedPool  # Slack posts, a channel at a time, up to 32 channels at once
    webhooks: BoundedPool  # Stripe events applied after the webhook was answered
    reads: BoundedPool  # the provider's reads of a page side by side (under its rate limiter)
    later: BoundedPool  # delayed work (a modal updated once Slack has shown it, Homes republished)
    timers: Timers = field(init=False)

    def __post_init__(self) -> None:
        self.timers = Timers(self.later)

    def all(self) -> list[BoundedPool]:
        return [
            self.listeners,
            self.submissions,
            self.courier,
            self.fill,
            self.delivery,
            self.webhooks,
            self.reads,
            self.later,
        ]

    def shutdown(self, *, wait: bool, cancel: bool) -> None:
        self.timers.shutdown()
        for pool in self.all():
            pool.shutdown(wait=wait, cancel_futures=cancel)


def make_pools() -> Pools:
    return Pools(
        # enough workers that a burst of clicks never queues behind slow Slack or provider calls
        listeners=BoundedPool("settle-listener", workers=32, queue=512),
        submissions=BoundedPool("settle-submission", workers=16, queue=2000),
        courier=BoundedPool("settle-courier", workers=1, queue=0),
        fill=BoundedPool("settle-fill", workers=4, queue=256),
        delivery=BoundedPool("settle-deliver", workers=32, queue=1024),
        # each webhook is applied after it was answered: a burst is read from Stripe side by side
        webhooks=BoundedPool("settle-webhook", workers=16, queue=2000),
        reads=BoundedPool("settle-reads", workers=16, queue=1000),
        later=BoundedPool("settle-later", workers=2, queue=1000),
    )


@dataclass
class Settle:
    """Everything one process needs, built once by `build`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    provider: BillingProvider
    web: WebClient
    gateway: SlackGateway
    workspaces: SingleWorkspace | InstalledWorkspaces
    public_base: str
    pools: Pools
    access: Authorizer
    deliverer: AlertDeliverer
    fanout: FanOut
    courier: Courier
    forms: SettleForms
    batches: Batches
    charger: Charger
    recovery: Recovery
    hooks: SettlementHooks
    ingest: Ingest
    poller: PollCycle
    home: HomePublisher
    follow_ups: FollowUps
    endings: Endings
    retries: Retries
    asks: CustomerAsks
    approvals: ApprovalDesk
    card_warnings: CardWarnings
    reports: ReportPoster
    languages: UserLanguages
    modals: ModalTracker
    _delivering: bool = False

    @cached_property
    def bolt(self) -> App:
        settings = self.settings
        oauth: dict[str, object] = {}
        if isinstance(self.workspaces, InstalledWorkspaces):
            config = OAuthConfig(
                (settings.slack_client_id or "").strip(), (settings.slack_client_secret or "").strip(), self.public_base
            )
            pages = InstallPages(start=install_page, success=installed, failure=not_installed)
            flow = oauth_flow(config, pages, self.workspaces.store, self.engine, self.web)
            oauth = {"oauth_flow": flow, "authorize": CachedAuthorize(self.workspaces)}
        app = App(
            signing_secret=settings.slack_signing_secret or "",
            # Requests over HTTP are verified by Bolt (and before it by bot/web/guard.py). In Socket
            # Mode nothing is signed and /slack/events is not served at all.
            request_verification_enabled=not self.socket_mode,
            client=self.web,
            token_verification_enabled=False,  # `settle serve` checks the token itself, with a clearer error
            process_before_response=False,
            logger=_BOLT_LOG,
            listener_executor=self.pools.listeners,
            **oauth,  # type: ignore[arg-type]
        )
        if isinstance(self.workspaces, InstalledWorkspaces):
            register_uninstall(app, self.workspaces.store, self.sessions, self.workspaces.forget)
        handlers.register(
            app,
            Services(
                sessions=self.sessions,
                access=self.access,
                forms=self.forms,
                batches=self.batches,
                charger=self.charger,
                recovery=self.recovery,
                follow_ups=self.follow_ups,
                endings=self.endings,
                retries=self.retries,
                asks=self.asks,
                approvals=self.approvals,
                unfurls=Unfurls(self.sessions, urlsplit(self.public_base).hostname),
                morning=self.morning,
                card_warnings=self.card_warnings,
                home=self.home,
                languages=self.languages,
                modals=self.modals,
                fill=self.pools.fill,
                submissions=self.pools.submissions,
                open_gate=OpenGate(),
            ),
        )
        return app

    @property
    def socket_mode(self) -> bool:
        return bool(self.settings.slack_app_token)

    def start_delivery(self) -> None:
        """The courier's loop on its own thread: a served process posts what it records as it records it.
        A one-shot command (`settle poll --once`) does not start it; it drains instead."""
        if not self._delivering:
            self._delivering = True
            self.pools.courier.submit(self.courier.run)

    def wsgi(self) -> SettleWSGI:
        self.start_delivery()  # what a webhook or a click records is posted without waiting for a poll
        pages: WSGIApp | None = None
        if self.settings.billing_provider == "sandbox":
            # each provider's pages are imported only when it is the one in use: start-up time
            from bot.billing.sandbox.provider import SandboxProvider
            from bot.web.pages.sandbox import SandboxPages

            assert isinstance(self.provider, SandboxProvider)
            pages = SandboxPages(self.provider, self.hooks)
        elif self.settings.billing_provider == "stripe":
            # the stripe SDK only with Stripe: start-up time
            from bot.billing.stripe.provider import StripeProvider
            from bot.web.pages.stripe import StripePages

            assert isinstance(self.provider, StripeProvider)
            pages = StripePages(
                self.provider, self.settings.stripe_webhook_secret, self.poller.pushed, self.pools.webhooks
            )
        signing = None if self.socket_mode else self.settings.slack_signing_secret
        return SettleWSGI(
            self.engine,
            signing,
            self.bolt if signing else None,
            pages,
            health=PollHealth(self.poll_lease, self.settings.poll_interval_seconds),
            oauth=isinstance(self.workspaces, InstalledWorkspaces),
            metrics_token=self.settings.metrics_token,
        )

    def scheduler(self, *, blocking: bool = False) -> BaseScheduler:
        return make_scheduler(
            self.poller,
            self.settings.poll_interval_seconds,
            blocking=blocking,
            lease=self.poll_lease,
            morning=self.morning.run,
        )

    @cached_property
    def morning(self) -> MorningLists:
        """Each admin's morning list (bot/delivery/morning.py)."""
        return MorningLists(
            self.sessions, self.access, self.gateway, MorningMessage(), self.languages, UserTimeZones(self.gateway)
        )

    @cached_property
    def poll_lease(self) -> DbLease:
        """One replica polls at a time; another takes over within about an interval if it dies."""
        ttl = timedelta(seconds=self.settings.poll_interval_seconds)
        return DbLease(self.sessions, "poll", new_owner(), ttl)

    def stop(self) -> None:
        """Shutting down: a delivery round stops after the posts under way are recorded."""
        self.courier.stop()

    def close(self, *, wait: bool = False, cancel: bool = False) -> None:
        """Release the pools and the database; with `wait`, after the work under way has finished;
        with `cancel`, work queued but not started is dropped."""
        self.courier.stop()
        self.pools.shutdown(wait=wait, cancel=cancel)
        self.engine.dispose()


def build(settings: Settings, *, port: int = 3000, gateway: SlackGateway | None = None, migrate: bool = True) -> Settle:
    engine, sessions = open_database(settings.database_url, migrate=migrate)
    public_base = settings.public_base(port)
    pools = make_pools()
    provider = make_provider(
        ProviderDeps(
            name=settings.billing_provider,
            sessions=sessions,
            public_base=public_base,
            link_secret=settings.link_secret,
            stripe_api_key=settings.stripe_api_key,
            stripe_api_base=settings.stripe_api_base,
            stripe_first_start_days=settings.stripe_first_start_days,
            stripe_max_per_second=settings.stripe_max_requests_per_second,
            reads=pools.reads,
        )
    )
    # with OAuth each workspace's token comes from the installation store: the template client has none
    web = make_web_client(None if settings.oauth else settings.slack_bot_token, settings.slack_api_url)
    workspaces = _workspaces(settings, engine, sessions, web)
    pacer = ChannelPacer(settings.slack_channel_interval)
    gateway = gateway or WebSlackGateway(workspaces, pacer)
    access = Authorizer(engine, sessions, gateway, workspaces, settings.admins)
    owner = new_owner()
    storms = Storms(sessions, after=settings.digest_after, window=settings.digest_window)
    deliverer = AlertDeliverer(
        sessions, gateway, workspaces, AlertMessage(), settings.alert_channel, owner, storms=storms
    )
    messages = MessageDeliverer(
        sessions,
        gateway,
        workspaces,
        AlertMessage(),
        CardWarningMessage(),
        DigestMessage(),
        owner,
        central_language=settings.language,
        approvals=ApprovalMessage(),
        global_admins=tuple(settings.admins),
        notices=CustomerNoticeMessage(),
        card_link=provider.customer_card_url,
    )
    fanout = FanOut(deliverer, messages, pools.delivery, getattr(gateway, "pacer", pacer))
    courier = Courier(fanout, pools.timers)
    languages = UserLanguages(gateway)
    forms = SettleForms(sessions, provider, access, courier)
    approvals = ApprovalPolicy(settings.approval_above, settings.approval_expires)
    batches = Batches(sessions, provider, access, forms, approvals)
    modals = ModalTracker(sessions, gateway, languages, pools.timers, forms)
    events: SettlementEvents = modals
    charger = Charger(sessions, provider, deliverer, events)
    recovery = Recovery(
        sessions,
        provider,
        batches,
        charger,
        deliverer,
        retry_unknown_after=timedelta(seconds=settings.charge_unknown_after),
    )
    follow_ups = FollowUps(
        sessions,
        access,
        courier,
        remind_after=settings.remind_after,
        escalate_after=settings.escalate_after,
        escalation_channel=settings.alert_channel,
    )
    reports = ReportPoster(sessions, workspaces, settings.alert_channel)
    card_warnings = CardWarnings(
        sessions, provider, gateway, workspaces, access, CardWarningMessage(), settings.alert_channel
    )
    hooks = SettlementHooks(sessions, recovery, events, card_warnings)
    ingest = Ingest(
        sessions, provider, hooks, remind_after=settings.remind_after, escalate_after=settings.escalate_after
    )
    for told in (follow_ups, card_warnings, reports):  # each records, and wakes the courier
        told.wake = courier.wake
    ingest.recorded = courier.wake
    retries = Retries(sessions, provider, access, batches, charger, deliverer, approvals)
    endings = Endings(sessions, provider, access, deliverer, approvals)
    desk = ApprovalDesk(sessions, access, batches, charger, retries, endings, deliverer)
    desk.wake = courier.wake
    poller = PollCycle(
        ingest,
        courier,
        reconcile=recovery.reconcile,
        retries=retries.fire_due,
        expire_approvals=desk.expire_due,
        follow_ups=follow_ups,
        reports=reports,
        card_warnings=card_warnings,
    )
    home = HomePublisher(sessions, access, gateway, HomeView(), languages, pools.timers)
    deliverer.on_change = _both(home.changed, courier.wake)  # App Home follows; replies may wait on it
    return Settle(
        settings=settings,
        engine=engine,
        sessions=sessions,
        provider=provider,
        web=web,
        gateway=gateway,
        workspaces=workspaces,
        public_base=public_base,
        pools=pools,
        access=access,
        deliverer=deliverer,
        fanout=fanout,
        courier=courier,
        forms=forms,
        batches=batches,
        charger=charger,
        recovery=recovery,
        hooks=hooks,
        ingest=ingest,
        poller=poller,
        home=home,
        follow_ups=follow_ups,
        endings=endings,
        retries=retries,
        asks=CustomerAsks(sessions, provider, access, deliverer),
        approvals=desk,
        card_warnings=card_warnings,
        reports=reports,
        languages=languages,
        modals=modals,
    )


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        second()

    return both


def _workspaces(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], web: WebClient
) -> SingleWorkspace | InstalledWorkspaces:
    if not settings.oauth:
        return SingleWorkspace(web)
    store = AuditedInstallationStore(
        (settings.slack_client_id or "").strip(), engine, sessions, TokenCipher(settings.token_keys)
    )
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
