"""INSERT ... ON CONFLICT DO NOTHING for the dialects Settle runs on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session, model: Any, values: dict[str, Any], conflict: list[str], where: Any = None
) -> Any | None:
    """Insert a row unless one with the same `conflict` columns exists (among rows matching `where`,
    for a partial unique index); its primary key, or None."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict, index_where=where)
    pk = next(iter(model.__table__.primary_key.columns))
    return session.execute(stmt.returning(pk)).scalar()


def insert_ignore_many(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: tuple[Any, ...],
    where: Any = None,
) -> list[Any]:
    """`insert_ignore` for many rows in one statement: the `returning` columns of the rows inserted
    (those already there are left as they are, and not returned)."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(rows).on_conflict_do_nothing(index_elements=conflict, index_where=where)
    return list(session.execute(stmt.returning(*returning)).all())
