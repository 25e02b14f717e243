"""The alert aggregate: an account's open balance, its declined invoices, the declines behind
them, and the thread replies waiting to be posted under it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.accounts import Account
from storage.models.base import ALERT_IS_OPEN_SQL, UNSYNCED_SQL, Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from storage.models.outbox import Message
    from storage.models.settlements import ApprovalRequest, ScheduledRetry


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
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when its message was first posted
    # in a storm: the digest that tells of it instead of a message of its own (messages.kind "digest")
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id"), index=True)
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
    # the latest attempt to settle it, when it did not pay: "declined" (with the card and the bank's
    # reason) or "unverified" (the bank's verification was never finished), and who made it
    last_attempt: Mapped[str | None] = mapped_column(String(16))
    last_attempt_card: Mapped[str | None] = mapped_column(String(64))
    last_attempt_reason: Mapped[str | None] = mapped_column(String(64))
    last_attempt_by: Mapped[str | None] = mapped_column(String(32))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the customer was asked from Slack: "pay" (the provider's payment page) or "card" (its add-card
    # page), by whom and when; a payment by the customer after "pay" is a recovery of its own
    asked_customer: Mapped[str | None] = mapped_column(String(8))
    asked_by: Mapped[str | None] = mapped_column(String(32))
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
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
    # its retry on a date, while one is scheduled (at most one: a partial unique index)
    scheduled_retry: Mapped[ScheduledRetry | None] = relationship(
        primaryjoin="and_(ScheduledRetry.alert_id == Alert.id, ScheduledRetry.status == 'scheduled')",
        viewonly=True,
        uselist=False,
        lazy="select",
    )
    # what waits for another admin's approval (bot/settlement/approvals.py)
    pending_approvals: Mapped[list[ApprovalRequest]] = relationship(
        primaryjoin="and_(ApprovalRequest.alert_id == Alert.id, ApprovalRequest.status == 'pending')",
        viewonly=True,
        order_by="ApprovalRequest.id",
        lazy="select",
    )
    # told to the customer in a channel shared with them (bot/read/notices.py), if it was
    customer_notice: Mapped[Message | None] = relationship(
        primaryjoin="and_(Message.alert_id == Alert.id, Message.kind == 'customer_notice')",
        foreign_keys="Message.alert_id",
        viewonly=True,
        uselist=False,
        lazy="select",
    )
    # the account has no foreign key (a decline may come before the provider names its customer)
    account: Mapped[Account | None] = relationship(
        primaryjoin="foreign(Alert.account_id) == Account.id", viewonly=True, lazy="select"
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
    url: Mapped[str | None] = mapped_column(String(500), index=True)  # a pasted hosted-invoice link finds it
    latest_decline_id: Mapped[int] = mapped_column(ForeignKey("declines.id"))
    decline_count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="open")  # an InvoiceState
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_by: Mapped[str | None] = mapped_column(String(32))
    paid_with: Mapped[str | None] = mapped_column(String(64))
    # an ending from Slack under way (paid another way, voided, uncollectible) and who asked for it
    ending_how: Mapped[str | None] = mapped_column(String(16))
    ending_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="invoices")
    latest_decline: Mapped[Decline] = relationship(lazy="select")
