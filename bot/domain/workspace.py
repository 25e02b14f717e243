"""Who is asking, and what they may see: a Slack request comes from one person in one workspace, and
with many workspaces installed it sees only what belongs to its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requester:
    """The person a Slack request comes from, and their workspace (None with one bot token)."""

    user_id: str | None
    team_id: str | None = None


@dataclass(frozen=True)
class Scope:
    """What one workspace's request may see when several are installed: what belongs to it, and what
    belongs to none when it is the only one installed."""

    team: str
    unassigned: bool

    def sees(self, team: str | None) -> bool:
        return team == self.team or (team is None and self.unassigned)


def sees(scope: Scope | None, team: str | None) -> bool:
    """None: nothing is kept apart (one workspace), everything is seen."""
    return scope is None or scope.sees(team)
