"""Warnings before a renewal that its card will fail."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


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
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_how: Mapped[str | None] = mapped_column(String(16))  # replaced | declined
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("uq_card_warnings_once", "account_id", "payment_method_id", "renews_on", unique=True),)
