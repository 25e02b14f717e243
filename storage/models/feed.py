"""How far the provider's change feed has been read, and which of its events are recorded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


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
