"""The provider events whose changes are recorded: deduplication between webhooks and the poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from storage.db import reading
from storage.models import Decline, ProviderEvent
from storage.upsert import insert_ignore

# Stripe keeps events 30 days: an id older than that can never come again
KEEP = timedelta(days=31)


def applied_events(sessions: sessionmaker[Session], provider: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    with reading(sessions) as s:
        return set(
            s.scalars(
                select(ProviderEvent.event_id).where(
                    ProviderEvent.provider == provider, ProviderEvent.event_id.in_(ids)
                )
            )
        )


def recorded_failures(sessions: sessionmaker[Session], ids: list[str]) -> set[str]:
    """Which of these provider failure ids are recorded declines already."""
    if not ids:
        return set()
    with reading(sessions) as s:
        return set(s.scalars(select(Decline.provider_failure_id).where(Decline.provider_failure_id.in_(ids))))


def record_applied(s: Session, provider: str, ids: list[str]) -> None:
    """In the transaction that records the events' changes: both, or neither."""
    now = datetime.now(UTC)
    for event_id in ids:
        insert_ignore(
            s, ProviderEvent, {"provider": provider, "event_id": event_id, "applied_at": now}, ["provider", "event_id"]
        )
    if ids:
        s.execute(delete(ProviderEvent).where(ProviderEvent.applied_at < now - KEEP))
