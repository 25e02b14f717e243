"""What every table shares: the declarative base, UTC datetimes, and the state values partial indexes
name (storage imports nothing of bot/: a test keeps these equal to bot/domain/states.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# An alert in one of these states is over; a settlement in one of these holds its invoice.
ALERT_DONE_STATES = ("paid", "closed")
SETTLEMENT_HOLDING_STATES = ("charging", "requires_action", "succeeded")

ALERT_IS_OPEN_SQL = "state NOT IN (" + ", ".join(f"'{v}'" for v in ALERT_DONE_STATES) + ")"
HOLDS_INVOICE_SQL = "status IN (" + ", ".join(f"'{v}'" for v in SETTLEMENT_HOLDING_STATES) + ")"
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
