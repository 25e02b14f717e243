"""Work claimed once across replicas (leases, periodic scans, the monthly report) and secrets Settle
generated for itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class ScanClaim(Base):
    """When a periodic scan (the card warnings) is next due; a replica claims it by moving it on."""

    __tablename__ = "scan_claims"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MonthlyReport(Base):
    """A month's recovered-revenue post in one workspace (its own accounts, its own channel): claimed by
    one process, which writes its message to the outbox. `team_id` is "" with a single bot token."""

    __tablename__ = "monthly_reports"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    team_id: Mapped[str] = mapped_column(String(32), primary_key=True, default="", server_default="")
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
