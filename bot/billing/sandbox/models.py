"""The sandbox provider's own tables: it plays the payment company inside Settle's database."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class SandboxCustomer(Base):
    __tablename__ = "sandbox_customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    default_payment_method_id: Mapped[str | None] = mapped_column(String(128))
    renews_on: Mapped[date | None] = mapped_column(Date)  # its subscription's next automatic renewal
    renewal_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    # the customer's metadata, as Stripe keeps it: Settle's routing (settle_channel, settle_admins,
    # settle_team) from the YAML; and its preferred language
    meta: Mapped[dict[str, str] | None] = mapped_column(JSON, default=dict)
    locale: Mapped[str | None] = mapped_column(String(16))


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
    kind: Mapped[str] = mapped_column(String(32))  # payment_failed | invoice_paid | ... | customer_updated
    invoice_id: Mapped[str | None] = mapped_column(String(128))
    customer_id: Mapped[str | None] = mapped_column(String(64))  # customer_updated
    attempt_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SandboxUsedLink(Base):
    """An add-card link that has added its card: such a link is single use."""

    __tablename__ = "sandbox_used_links"

    link_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
