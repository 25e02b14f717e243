"""Every account Settle knows, with where its alerts go and who may settle it, and where each of
those came from (the provider, or `settle accounts map`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import Account


@dataclass(frozen=True)
class AccountRow:
    id: str
    name: str
    channel: str | None
    channel_mapped: bool  # set by `settle accounts map` (else from the provider)
    team: str | None
    team_mapped: bool
    admins: tuple[tuple[str, str], ...]  # (slack id, "provider" | "manual")
    language: str

    @property
    def channel_source(self) -> str | None:
        return "map" if self.channel_mapped else ("provider" if self.channel else None)


def account_row(account: Account) -> AccountRow:
    return AccountRow(
        id=account.id,
        name=account.name,
        channel=account.channel,
        channel_mapped=bool(account.mapped_channel),
        team=account.team,
        team_mapped=bool(account.mapped_team),
        admins=tuple((a.slack_id, a.source) for a in account.admins),
        language=account.locale or "en",
    )


def account_rows(s: Session) -> list[AccountRow]:
    return [
        account_row(a) for a in s.scalars(select(Account).options(selectinload(Account.admins)).order_by(Account.id))
    ]


def known(s: Session, account_id: str) -> bool:
    return s.get(Account, account_id) is not None
