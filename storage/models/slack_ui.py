"""State of Slack surfaces that the handlers' adapters keep: App Home viewers, modals that follow a
confirmation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class HomeViewer(Base):
    """Someone who opened Settle's App Home: their Home is published again when balances change."""

    __tablename__ = "home_viewers"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    team_id: Mapped[str | None] = mapped_column(String(32))  # their workspace (with OAuth)


class ModalView(Base):
    """A Slack modal that shows a settle form or a confirmation, kept by the handlers' modal tracker so
    it moves on when what it shows does: a card added on the provider's page, a confirmation's
    outcome. The money service knows nothing of it.

    `role`: "form" (a settle form; its id is the add-card link's reference), "chosen" (the modal
    session a confirmation was chosen in), "owner" (the admin's own confirmation), "watcher" (another
    modal showing it). `external_id` is set on a view Settle showed in an answer to Slack: it is
    updated by it, which Slack knows only once it has shown that answer."""

    __tablename__ = "modal_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    view_id: Mapped[str | None] = mapped_column(String(32), index=True)
    root_view_id: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class MorningList(Base):
    """One admin's morning list of one day (their own date), claimed once across replicas: the insert
    that wins sends it. `team_id` is "" with one workspace."""

    __tablename__ = "morning_lists"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD in their time zone
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    balances: Mapped[int] = mapped_column(Integer, default=0)


class UserSetting(Base):
    """What one person chose for themselves: `/settle digest off|on`."""

    __tablename__ = "user_settings"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    morning_list: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
