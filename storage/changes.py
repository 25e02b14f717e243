"""Two writes many rooms make: a row moved from one status to the next only if it is still in the
first (a compare-and-set: of two replicas or two clicks, one wins), and outbox messages marked as
changed so the deliverer brings Slack up to date."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.orm import Session

from storage.models import Message


def moved(
    session: Session, model: Any, row_id: int, was: str, values: dict[str, Any], *also: ColumnElement[bool]
) -> bool:
    """`model`'s row `row_id` takes `values` if its status is still `was` (and `also` holds): True
    when this call moved it."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(model)
            .where(model.id == row_id, model.status == was, *also)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def bump_messages(session: Session, *where: ColumnElement[bool]) -> None:
    """The outbox messages matching `where` changed: each is updated in Slack in place."""
    session.execute(
        update(Message).where(*where).values(version=Message.version + 1).execution_options(synchronize_session=False)
    )
