"""A gateway that keeps messages in memory instead of sending them: `settle demo`'s Slack."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bot.domain.chat import MessageGone, SlackError


@dataclass
class RecordedMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    thread_ts: str | None = None


def _plain(block: Any) -> dict[str, Any]:
    return block if isinstance(block, dict) else block.to_dict()


@dataclass
class RecordingGateway:
    messages: list[RecordedMessage] = field(default_factory=list)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def post(
        self,
        team: str | None,
        channel: str,
        text: str,
        blocks: list[Any],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> tuple[str, str]:
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages.append(RecordedMessage(channel, ts, text, [_plain(b) for b in blocks], metadata, thread_ts))
        return channel, ts

    def update(self, team: str | None, channel: str, ts: str, text: str, blocks: list[Any]) -> None:
        for msg in self.messages:
            if msg.channel == channel and msg.ts == ts:
                msg.text, msg.blocks = text, [_plain(b) for b in blocks]
                return
        raise MessageGone("message_not_found")

    def find_message(
        self,
        team: str | None,
        channel: str,
        event_type: str,
        key: str,
        value: object,
        oldest: float,
        *,
        thread_ts: str | None = None,
    ) -> str | None:
        for msg in self.messages:
            meta = msg.metadata or {}
            found = meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get(key) == value
            if msg.channel == channel and found:
                return msg.ts
        return None

    def find_file(self, team: str | None, channel: str, title: str, oldest: float) -> bool:
        return False

    def join(self, team: str | None, channel: str) -> bool:
        return True

    def update_view(
        self,
        team: str | None,
        view: Any,
        *,
        view_id: str | None = None,
        external_id: str | None = None,
        view_hash: str | None = None,
    ) -> None:
        raise SlackError("not_found")  # the demo has no modals

    def post_ephemeral(self, team: str | None, channel: str, user: str, text: str) -> None:
        self.messages.append(RecordedMessage(channel, "", text, [], None))

    def publish_home(self, team: str | None, user: str, view: Any) -> None:
        pass  # the demo has no App Home

    def user_locale(self, team: str | None, user: str) -> str | None:
        return None

    def user_tz_offset(self, team: str | None, user: str) -> int | None:
        return None

    def upload(self, team: str | None, channel: str, filename: str, content: bytes, title: str, comment: str) -> None:
        self.messages.append(RecordedMessage(channel, "", comment, [], None))

    def usergroup_members(self, team: str | None, group_id: str) -> list[str]:
        return []
