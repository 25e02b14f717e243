"""Where money moves: one confirmation (a batch) and a settlement per invoice in it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import HOLDS_INVOICE_SQL, Base, UTCDateTime, utcnow


class SettlementBatch(Base):
    """One confirmation: an admin pays some of an alert's invoices with one card. Each invoice is
    its own Settlement (own idempotency key); the batch is what the modal shows."""

    __tablename__ = "settlement_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    payment_method_id: Mapped[str] = mapped_column(String(128))
    card_label: Mapped[str] = mapped_column(String(64))
    make_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


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
            sqlite_where=text(HOLDS_INVOICE_SQL),
            postgresql_where=text(HOLDS_INVOICE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(32))
    payment_method_id: Mapped[str] = mapped_column(String(128))
    card_label: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    make_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # charged with no one at the card (a scheduled retry): the provider is told, and told the same
    # when the charge is asked again with its key
    off_session: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(24), default="pending")
    reason: Mapped[str | None] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(128))
    verification_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ScheduledRetry(Base):
    """An admin's "Retry on…": one charge of the balance's invoices with one card at a set time,
    off-session. Authorised and audited when scheduled; fired by whichever replica claims it
    (scheduled -> firing, a conditional update), cancellable while scheduled. At most one is scheduled
    per alert (a partial unique index)."""

    __tablename__ = "scheduled_retries"
    __table_args__ = (
        Index("ix_scheduled_retries_due", "status", "due_at"),
        Index(
            "uq_scheduled_retries_one_per_alert",
            "alert_id",
            unique=True,
            sqlite_where=text("status = 'scheduled'"),
            postgresql_where=text("status = 'scheduled'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(String(32))  # the scheduler's workspace: re-checked when due
    scheduled_by: Mapped[str] = mapped_column(String(32))
    payment_method_id: Mapped[str] = mapped_column(String(128))
    card_label: Mapped[str] = mapped_column(String(64))
    invoice_ids: Mapped[str] = mapped_column(Text)  # comma-separated: what the admin saw and chose
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled/firing/done/cancelled/skipped
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_batches.id"))
    outcome: Mapped[str | None] = mapped_column(String(64))  # paid / declined reason / why it was skipped
    ended_by: Mapped[str | None] = mapped_column(String(32))  # who cancelled it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


UNFINISHED_SQL = "status = 'approved' AND outcome IS NULL"


class ApprovalRequest(Base):
    """A second pair of eyes: a confirmation, a scheduled retry or a "paid another way" above the
    account's threshold waits here until another authorised admin approves it (then it is carried
    out once, with the keys it was given) or rejects it, or it expires. pending -> approved / rejected
    / expired, each by a conditional update."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("ix_approval_requests_pending", "status", "expires_at"),
        # approved and never carried out (cut short): what the poll resumes, however many are done
        Index(
            "ix_approval_requests_unfinished",
            "decided_at",
            sqlite_where=text(UNFINISHED_SQL),
            postgresql_where=text(UNFINISHED_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # settle / retry / paid
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_batches.id"), unique=True)
    retry_id: Mapped[int | None] = mapped_column(ForeignKey("scheduled_retries.id"), unique=True)
    make_default: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)  # paid another way: the requester's words
    shown: Mapped[str | None] = mapped_column(String(16))  # paid another way: the invoices it showed
    card_label: Mapped[str | None] = mapped_column(String(64))
    amounts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # minor units per currency
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(64))  # what carrying it out came to
    message_id: Mapped[int | None] = mapped_column(Integer)  # its Approve / Reject message in the thread
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
