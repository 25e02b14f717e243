"""A workspace's scope as SQL, for the rows a query returns."""

from __future__ import annotations

from sqlalchemy import ColumnElement, SQLColumnExpression, or_, true

from bot.domain.workspace import Scope


def visible(scope: Scope | None, team: SQLColumnExpression[str | None]) -> ColumnElement[bool]:
    if scope is None:
        return true()
    return or_(team == scope.team, team.is_(None)) if scope.unassigned else team == scope.team
