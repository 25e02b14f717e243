"""The Slack workspaces Settle is installed in (with OAuth): their ids, names, how many accounts each
has and where their accounts without a channel are alerted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Account, WorkspaceSetting, slack_bots


@dataclass(frozen=True)
class WorkspaceRow:
    team_id: str
    name: str | None
    installed_at: datetime | None
    accounts: int
    alert_channel: str | None


@dataclass(frozen=True)
class Installs:
    workspaces: list[WorkspaceRow]
    unassigned_accounts: int  # accounts that name no workspace


def installs(s: Session, client_id: str) -> Installs:
    """This app's installs (its client id), as slack_sdk's store keeps them."""
    rows = s.execute(
        select(slack_bots.c.team_id, slack_bots.c.team_name, func.max(slack_bots.c.installed_at))
        .where(slack_bots.c.bot_token.is_not(None), slack_bots.c.client_id == client_id)
        .group_by(slack_bots.c.team_id, slack_bots.c.team_name)
        .order_by(slack_bots.c.team_id)
    ).all()
    channels = dict(s.execute(select(WorkspaceSetting.team_id, WorkspaceSetting.alert_channel)).all())
    counts: dict[str | None, int] = dict(s.execute(select(Account.team, func.count()).group_by(Account.team)).all())
    return Installs(
        workspaces=[WorkspaceRow(t, n, at, counts.get(t, 0), channels.get(t)) for t, n, at in rows],
        unassigned_accounts=counts.get(None, 0),
    )
