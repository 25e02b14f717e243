"""The outbox: every Slack message Settle posts besides an alert's own (which its alert row carries:
channel, ts, version, lease), with its kind, workspace, channel and what to render. A row is written
in the transaction that makes the change it tells of; one worker posts it, once, and a message whose
answer was lost is found again by the metadata it carries (or, for a file, by its title)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import UNSYNCED_SQL, Base, UTCDateTime, utcnow

UNPOSTABLE = "unposted"  # the ts of a message Slack will not take in its channel: not tried again


class Message(Base):
    """kind: "reply" (in an alert's thread, or a digest's: a later decline, a settlement, a reminder),
    "escalation" (a message of its own in a workspace's alert channel), "card_warning", "digest"
    (a storm in one channel, told as one message), "report" (the monthly report, a file).

    Messages that change after they are posted (a card warning resolved, a digest growing) bump
    `version`; the worker brings Slack to it, as for alerts."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_unsynced", "id", sqlite_where=text(UNSYNCED_SQL), postgresql_where=text(UNSYNCED_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id"), index=True)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("card_warnings.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(String(32))  # the workspace it goes to (None: the only one)
    channel: Mapped[str | None] = mapped_column(String(32))  # None: its alert's or digest's channel
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what to render
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False)
    ts: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    synced_version: Mapped[int] = mapped_column(Integer, default=0)
    post_attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when Slack last took it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Digest(Base):
    """A storm in one channel: more than SETTLE_DIGEST_AFTER new alerts within SETTLE_DIGEST_WINDOW.
    The alerts beyond the threshold join it (alerts.digest_id) instead of getting a message each; one
    digest per channel is open at a time (until `closes_at`)."""

    __tablename__ = "digests"
    __table_args__ = (
        Index(
            "uq_digests_open_channel",
            "team_key",
            "channel",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_key: Mapped[str] = mapped_column(String(32), default="")  # its workspace ("" with one bot token)
    channel: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
