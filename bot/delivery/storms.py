"""A storm becomes one message: when a channel would get more than SETTLE_DIGEST_AFTER new alerts
within SETTLE_DIGEST_WINDOW, the alerts beyond that join one digest instead of a message each, and
later ones in the window join it too. Each balance stays what it was (settleable, followed up,
audited); only its Slack message is the digest's. SETTLE_DIGEST_AFTER=0 turns digests off."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.changes import bump_messages
from storage.db import transaction
from storage.models import Alert, Digest, Message
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)


class Storms:
    def __init__(self, sessions: sessionmaker[Session], *, after: int, window: timedelta) -> None:
        self.sessions = sessions
        self.after = after
        self.window = window

    def joins(self, alert_id: int, team: str | None, channel: str, now: datetime | None = None) -> int | None:
        """The digest this alert, about to get its first message in `channel`, joins instead; None to
        post it as usual."""
        if self.after <= 0:
            return None
        now = now or datetime.now(UTC)
        key = team or ""
        with transaction(self.sessions) as s:
            digest_id = self._open(s, key, channel, now)
            if digest_id is None:
                posted = s.scalar(
                    select(func.count())
                    .select_from(Alert)
                    .where(Alert.channel == channel, Alert.posted_at >= now - self.window, Alert.digest_id.is_(None))
                )
                if int(posted or 0) < self.after:
                    return None
                digest_id = self._start(s, key, channel, now)
            s.execute(update(Alert).where(Alert.id == alert_id).values(digest_id=digest_id))
            self.changed(s, digest_id)
        return digest_id

    def _open(self, s: Session, key: str, channel: str, now: datetime) -> int | None:
        found = s.execute(
            select(Digest.id, Digest.closes_at).where(Digest.team_key == key, Digest.channel == channel, Digest.is_open)
        ).one_or_none()
        if found is None:
            return None
        digest_id, closes_at = found
        if closes_at > now:
            return int(digest_id)
        # its window is over: the next storm in this channel gets a digest of its own
        s.execute(update(Digest).where(Digest.id == digest_id).values(is_open=False))
        return None

    def _start(self, s: Session, key: str, channel: str, now: datetime) -> int:
        new_id = insert_ignore(
            s,
            Digest,
            {"team_key": key, "channel": channel, "opened_at": now, "closes_at": now + self.window, "is_open": True},
            ["team_key", "channel"],
            where=Digest.is_open,
        )
        if new_id is None:  # another deliverer opened it a moment ago
            found = self._open(s, key, channel, now)
            assert found is not None
            return found
        s.add(Message(kind="digest", digest_id=new_id, team_id=key or None, channel=channel, created_at=now))
        s.flush()
        log.info("digest %s: a storm in %s, later alerts there are told in one message", new_id, channel)
        return int(new_id)

    @staticmethod
    def changed(s: Session, digest_id: int) -> None:
        """A member joined or moved on: the digest's message is brought up to date."""
        bump_messages(s, Message.kind == "digest", Message.digest_id == digest_id)
