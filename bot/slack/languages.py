"""Which language each Slack user reads: their Slack locale (users.info with include_locale), asked
once an hour per user; anything unknown, or an error, is English."""

from __future__ import annotations

import logging
import threading
import time

from bot.domain.slack_ids import USER
from bot.i18n import DEFAULT, language
from bot.slack.gateway import SlackError, SlackGateway

log = logging.getLogger(__name__)

TTL_SECONDS = 3600.0


class UserLanguages:
    def __init__(self, gateway: SlackGateway) -> None:
        self.gateway = gateway
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def of(self, user_id: str | None) -> str:
        if not user_id or not USER.match(user_id):
            return DEFAULT
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            found = language(self.gateway.user_locale(user_id))
        except SlackError as exc:
            log.info("users.info %s failed (%s): English", user_id, exc.code)
            found = DEFAULT
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[user_id] = (now + TTL_SECONDS, found)
        return found
