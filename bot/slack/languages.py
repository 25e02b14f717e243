"""Which language each Slack user reads: their Slack locale (users.info with include_locale), asked
once an hour per user; anything unknown, or an error, is English."""

from __future__ import annotations

import logging
import threading
import time

from bot.domain.chat import SlackError, SlackGateway
from bot.domain.slack_ids import USER
from bot.i18n import DEFAULT, language

log = logging.getLogger(__name__)

TTL_SECONDS = 3600.0


class UserLanguages:
    def __init__(self, gateway: SlackGateway) -> None:
        self.gateway = gateway
        self._cache: dict[tuple[str | None, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def cached(self, user_id: str | None, team: str | None) -> str | None:
        """The language if it is known without asking Slack (nothing may be asked before an ack)."""
        if not user_id or not USER.match(user_id):
            return DEFAULT
        with self._lock:
            hit = self._cache.get((team, user_id))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def of(self, user_id: str | None, team: str | None) -> str:
        found = self.cached(user_id, team)
        if found is not None:
            return found
        assert user_id is not None
        try:
            found = language(self.gateway.user_locale(team, user_id))
        except SlackError as exc:
            log.info("users.info %s failed (%s): English", user_id, exc.code)
            found = DEFAULT
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[(team, user_id)] = (time.monotonic() + TTL_SECONDS, found)
        return found


class UserTimeZones:
    """Each Slack user's offset from UTC (users.info tz_offset), asked once an hour per user; unknown: UTC."""

    def __init__(self, gateway: SlackGateway) -> None:
        self.gateway = gateway
        self._cache: dict[tuple[str | None, str], tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def offset(self, user_id: str, team: str | None) -> int | None:
        """None when Slack could not say just now (asked again in a minute): never a guess."""
        with self._lock:
            hit = self._cache.get((team, user_id))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found: int | None
        try:
            found = self.gateway.user_tz_offset(team, user_id) or 0
            ttl = TTL_SECONDS
        except SlackError as exc:
            log.info("users.info %s failed (%s): time zone unknown for now", user_id, exc.code)
            found, ttl = None, 60.0
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[(team, user_id)] = (time.monotonic() + ttl, found)
        return found
