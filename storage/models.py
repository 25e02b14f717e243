"""Typed SQLAlchemy models. Money is integer minor units plus an ISO currency code."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bot.domain.states import ALERT_DONE, SETTLEMENT_HOLDS_INVOICE

ALERT_IS_OPEN_SQL = "state NOT IN (" + ", ".join(f"'{v.value}'" for v in ALERT_DONE) + ")"
UNSYNCED_SQL = "version > synced_version"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops tzinfo otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


# --- Settle's own records -------------------------------------------------------------------------


class Account(Base):
    """A billing customer and where its alerts go; `id` is the provider's customer id."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    slack_channel: Mapped[str | None] = mapped_column(String(32))  # from the provider (Stripe metadata)
    mapped_channel: Mapped[str | None] = mapped_column(String(32))  # `settle accounts map`: wins over the provider's
    provider_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last read from the provider
    locale: Mapped[str | None] = mapped_column(String(16))  # the language of its channel alerts (en, nl)
    slack_team: Mapped[str | None] = mapped_column(String(32))  # its Slack workspace, from the provider
    mapped_team: Mapped[str | None] = mapped_column(String(32))  # `settle accounts map --team`: wins
    admins: Mapped[list[AccountAdmin]] = relationship(
        back_populates="account", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def channel(self) -> str | None:
        """Where this account's alerts go (before SETTLE_ALERT_CHANNEL)."""
        return self.mapped_channel or self.slack_channel

    @hybrid_property
    def team(self) -> str | None:
        """The workspace its alerts go to (with OAuth; none: the only workspace installed)."""
        return self.mapped_team or self.slack_team

    @team.inplace.expression
    @classmethod
    def _team_sql(cls) -> ColumnElement[str | None]:
        return func.coalesce(cls.mapped_team, cls.slack_team)


class AccountAdmin(Base):
    """A Slack user (or user group) allowed to settle one account."""

    __tablename__ = "account_admins"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    slack_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "provider": from the billing system (Stripe metadata, sandbox YAML), replaced when it changes;
    # "manual": from `settle accounts map`, which the provider never removes
    source: Mapped[str] = mapped_column(String(16), default="provider", server_default="provider")
    account: Mapped[Account] = relationship(back_populates="admins")


class Decline(Base):
    """One failed automatic charge, as reported by the provider. Unique per provider failure."""

    __tablename__ = "declines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_failure_id: Mapped[str] = mapped_column(String(128), unique=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    invoice_id: Mapped[str] = mapped_column(String(128), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    payment_method_id: Mapped[str | None] = mapped_column(String(128))
    card_brand: Mapped[str | None] = mapped_column(String(32))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempt: Mapped[int | None] = mapped_column(Integer)  # the provider's attempt count, when it says
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its next automatic retry
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    message: Mapped[str | None] = mapped_column(String(500))  # the bank's words, as the provider gives them


class Alert(Base):
    """The Slack message for one account's open balance, and its delivery state (an outbox row).

    One alert per account while it has declined, unpaid invoices (the partial unique index); its
    invoices are AlertInvoice rows. Once every one is paid the alert is settled, and a later decline
    opens a new one. Every change bumps `version` in the same transaction that makes it; the
    deliverer sets `synced_version` to the version it rendered once Slack has it, so a change made
    while a post is in flight is never lost. `claimed_by`/`claimed_until` lease the row to one
    deliverer at a time.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_account_open",
            "account_id",
            unique=True,
            sqlite_where=text(ALERT_IS_OPEN_SQL),
            postgresql_where=text(ALERT_IS_OPEN_SQL),
        ),
        # the deliverer's "what needs sending" stays cheap however many alerts are open
        Index("ix_alerts_unsynced", "id", sqlite_where=text(UNSYNCED_SQL), postgresql_where=text(UNSYNCED_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    latest_decline_id: Mapped[int] = mapped_column(ForeignKey("declines.id"))
    decline_count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(32), default="open", index=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32))  # the workspace its message is in (with OAuth)
    fallback_reason: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    synced_version: Mapped[int] = mapped_column(Integer, default=0)
    post_attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_by: Mapped[str | None] = mapped_column(String(32))
    paid_with: Mapped[str | None] = mapped_column(String(64))
    pending_by: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)  # the latest settlement attempt's outcome, if it failed (plain text)
    note_by: Mapped[str | None] = mapped_column(String(32))  # the Slack user who made that attempt
    # follow-up: the next reminder and the escalation are due at these times (None: none due); a
    # poller claims one by moving it with a compare-and-set, so each is sent once
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    escalate_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snoozed_by: Mapped[str | None] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(32))
    assigned_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    latest_decline: Mapped[Decline] = relationship(lazy="select")
    invoices: Mapped[list[AlertInvoice]] = relationship(
        back_populates="alert", lazy="selectin", order_by="AlertInvoice.id"
    )


class AlertInvoice(Base):
    """One declined invoice in an account's open balance. An invoice belongs to one alert, ever."""

    __tablename__ = "alert_invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(String(128), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    latest_decline_id: Mapped[int] = mapped_column(ForeignKey("declines.id"))
    decline_count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="open")  # an InvoiceState
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_by: Mapped[str | None] = mapped_column(String(32))
    paid_with: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="invoices")
    latest_decline: Mapped[Decline] = relationship(lazy="select")


class AlertReply(Base):
    """A thread reply under an alert, posted by the deliverer once the alert's message exists
    (an outbox row too): a later decline, a balance that grew."""

    __tablename__ = "alert_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str | None] = mapped_column(String(32))  # set: a message of its own there, not a reply
    ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BatchView(Base):
    """A modal that shows a confirmation someone else started, or the same one opened again (a
    second tab, another admin): it moves on too when the outcome arrives."""

    __tablename__ = "batch_views"

    view_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))


class SettlementBatch(Base):
    """One confirmation: an admin pays some of an alert's invoices with one card. Each invoice is
    its own Settlement (own idempotency key); the batch is what the modal shows."""

    __tablename__ = "settlement_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    view_id: Mapped[str | None] = mapped_column(String(32))
    payment_method_id: Mapped[str] = mapped_column(String(128))
    card_label: Mapped[str] = mapped_column(String(64))
    make_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


_HOLDS_SQL = "status IN (" + ", ".join(f"'{v.value}'" for v in SETTLEMENT_HOLDS_INVOICE) + ")"


class Settlement(Base):
    """One admin's intent to pay one invoice with one method: created when the method is chosen,
    claimed (pending -> charging) exactly once when confirmed. Its idempotency key goes to the
    provider; the partial unique index lets only one settlement per invoice be in flight or done."""

    __tablename__ = "settlements"
    __table_args__ = (
        Index(
            "uq_settlements_invoice_active",
            "invoice_id",
            unique=True,
            sqlite_where=text(_HOLDS_SQL),
            postgresql_where=text(_HOLDS_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(32))
    view_id: Mapped[str | None] = mapped_column(String(32))
    payment_method_id: Mapped[str] = mapped_column(String(128))
    card_label: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    make_default: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(24), default="pending")
    reason: Mapped[str | None] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(128))
    verification_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PollCursor(Base):
    """How far the poller has read each provider's failure feed."""

    __tablename__ = "poll_cursors"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProviderEvent(Base):
    """An event of the provider's (a Stripe event id) whose changes are recorded: the webhook and the
    poll both bring events, and whichever comes second skips it without asking the provider again."""

    __tablename__ = "provider_events"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class HomeViewer(Base):
    """Someone who opened Settle's App Home: their Home is published again when balances change."""

    __tablename__ = "home_viewers"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    team_id: Mapped[str | None] = mapped_column(String(32))  # their workspace (with OAuth)


class CardWarning(Base):
    """A warning, before a renewal, that its card will fail (expires first, or was declined before):
    one per account, card and renewal, posted once; resolved when the account has another default."""

    __tablename__ = "card_warnings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64))
    payment_method_id: Mapped[str] = mapped_column(String(128))
    renews_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))  # expires | declined_before
    card_label: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("uq_card_warnings_once", "account_id", "payment_method_id", "renews_on", unique=True),)


class ScanClaim(Base):
    """When a periodic scan (the card warnings) is next due; a replica claims it by moving it on."""

    __tablename__ = "scan_claims"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MonthlyReport(Base):
    """A month's recovered-revenue post: claimed by one process, posted once."""

    __tablename__ = "monthly_reports"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(32))


class Lease(Base):
    """Work one replica does at a time (the poll): held until `until`, renewed by its holder, taken
    over by another replica once it lapses. `last_run_at` is when the work last finished."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppSecret(Base):
    """A secret Settle generated for itself (e.g. the sandbox's link key), shared by every replica."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkspaceSetting(Base):
    """A Slack workspace's own defaults (with OAuth): where its accounts without a channel are alerted."""

    __tablename__ = "workspace_settings"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert_channel: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEvent(Base):
    """Append-only record of everything Settle did or was asked to do."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(128))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    payment_method: Mapped[str | None] = mapped_column(String(128))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- The sandbox billing provider's own data (it plays the payment company) ---------------------


class SandboxCustomer(Base):
    __tablename__ = "sandbox_customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    default_payment_method_id: Mapped[str | None] = mapped_column(String(128))
    renews_on: Mapped[date | None] = mapped_column(Date)  # its subscription's next automatic renewal
    renewal_amount_minor: Mapped[int | None] = mapped_column(BigInteger)


class SandboxPaymentMethod(Base):
    """A saved card. Only brand, last 4, expiry and the test behaviour are kept, never the number."""

    __tablename__ = "sandbox_payment_methods"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("sandbox_customers.id", ondelete="CASCADE"), index=True)
    brand: Mapped[str] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    behaviour: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # the same card number, as Stripe's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxInvoice(Base):
    __tablename__ = "sandbox_invoices"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("sandbox_customers.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SandboxAttempt(Base):
    """One charge attempt; its autoincrement id is the failure feed's cursor."""

    __tablename__ = "sandbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("sandbox_invoices.id", ondelete="CASCADE"), index=True)
    payment_method_id: Mapped[str] = mapped_column(String(128))
    brand: Mapped[str] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    off_session: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxEvent(Base):
    """The sandbox's change feed, as Stripe's Events: a renewal failed, an invoice was paid. Its
    autoincrement id is the poller's cursor, so a poll reads what changed, never what is open."""

    __tablename__ = "sandbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # payment_failed | invoice_paid
    invoice_id: Mapped[str] = mapped_column(String(128))
    attempt_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxUsedLink(Base):
    """An add-card link that has added its card: such a link is single use."""

    __tablename__ = "sandbox_used_links"

    link_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# slack_sdk's installation and OAuth state stores (bot tokens per workspace), in the same database;
# their tables are slack_sdk's own definitions, so the migrations are checked against them too.
def _slack_sdk_tables() -> None:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    meta = Base.metadata
    SQLAlchemyInstallationStore.build_installations_table(
        meta, SQLAlchemyInstallationStore.default_installations_table_name
    )
    SQLAlchemyInstallationStore.build_bots_table(meta, SQLAlchemyInstallationStore.default_bots_table_name)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(meta, SQLAlchemyOAuthStateStore.default_table_name)


_slack_sdk_tables()
