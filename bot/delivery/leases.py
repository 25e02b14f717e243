"""One deliverer at a time on a row of the outbox (an alert, a message): a lease taken with a
conditional update, its holder a token of this attempt (never just this process: two threads of one
process must not both post), lapsing after a minute, taken over at once from a process that died."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.db import grouped
from storage.leases import owner_is_dead

LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Claim:
    token: str  # this attempt's lease: "host:pid:process-nonce#attempt-nonce"
    previous_attempts: int  # posts tried before this one (an unfinished one may already be in Slack)
    version: int | None = None  # the row's, as claimed
    ts: str | None = None  # its message's, as claimed


def claim(sessions: sessionmaker[Session], model: Any, row_id: int, owner: str) -> Claim | None:
    """Lease the row while it is behind (version > synced_version); None when another attempt holds it.

    One conditional UPDATE when the row is free (the usual case); a lease held by a process on this
    host that died is looked at only when that fails."""
    now = datetime.now(UTC)
    token = f"{owner}#{uuid.uuid4().hex[:8]}"
    free = or_(model.claimed_by.is_(None), model.claimed_until <= now)

    def take(s: Session) -> Claim | None:
        won = _take(s, model, row_id, free, token, now)
        if won is not None:
            return won
        holder = s.execute(
            select(model.claimed_by).where(model.id == row_id, model.version > model.synced_version)
        ).scalar_one_or_none()
        if holder is None or not owner_is_dead(holder):
            return None
        return _take(s, model, row_id, model.claimed_by == holder, token, now)

    return grouped(sessions, take)  # committed with the other deliverers' claims and records


def _take(s: Session, model: Any, row_id: int, free: Any, token: str, now: datetime) -> Claim | None:
    row = s.execute(
        update(model)
        .where(model.id == row_id, model.version > model.synced_version, free)
        .values(
            claimed_by=token,
            claimed_until=now + LEASE,
            post_attempts=model.post_attempts + case((model.ts.is_(None), 1), else_=0),
        )
        .returning(model.post_attempts, model.ts, model.version)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return None
    attempts, ts, version = row
    return Claim(token, int(attempts) - (1 if ts is None else 0), int(version), ts)


def release(sessions: sessionmaker[Session], model: Any, row_id: int, token: str) -> None:
    grouped(
        sessions,
        lambda s: s.execute(
            update(model)
            .where(model.id == row_id, model.claimed_by == token)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        ),
    )


def synced_values(model: Any, version: int, token: str, *, release: bool) -> dict[str, Any]:
    """The columns that record Slack has `version` (never moved back), and, with `release`, end this
    attempt's lease if it is still its own."""
    values: dict[str, Any] = {
        "synced_version": case((model.synced_version < version, version), else_=model.synced_version)
    }
    if release:
        mine = model.claimed_by == token
        values.update(
            claimed_by=case((mine, None), else_=model.claimed_by),
            claimed_until=case((mine, None), else_=model.claimed_until),
        )
    return values
