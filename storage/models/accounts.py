"""A billing customer and who may settle it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    String,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime


class Account(Base):
    """A billing customer and where its alerts go; `id` is the provider's customer id."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    slack_channel: Mapped[str | None] = mapped_column(String(32))  # from the provider (Stripe metadata)
    mapped_channel: Mapped[str | None] = mapped_column(String(32))  # `settle accounts map`: wins over the provider's
    # a channel shared with the customer (Slack Connect): declines are told there in the customer's words
    customer_channel: Mapped[str | None] = mapped_column(String(32))
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
