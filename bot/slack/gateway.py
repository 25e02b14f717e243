"""Every Slack Web API call the domain makes, each for the workspace it names, with Slack's errors
turned into the typed ones of bot/domain/chat.py. No business rules."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient

from bot.domain.chat import (
    ChannelUnavailable,
    RateLimited,
    SlackAuthError,
    SlackError,
    SlackUnreachable,
    WorkspaceUnavailable,
)
from bot.slack.client import POST_RATE_LIMIT_RETRIES, translated
from bot.slack.pacing import ChannelPacer
from bot.slack.workspaces import InstalledWorkspaces, SingleWorkspace

log = logging.getLogger(__name__)


class WebSlackGateway:
    def __init__(self, workspaces: SingleWorkspace | InstalledWorkspaces, pacer: ChannelPacer | None = None) -> None:
        self.workspaces = workspaces
        self.pacer = pacer or ChannelPacer()

    def client(self, team: str | None) -> WebClient:
        """The client holding the workspace's bot token (the only one, with a single bot token)."""
        return self.workspaces.client(team)

    @contextmanager
    def _calling(self, team: str | None, method: str) -> Iterator[WebClient]:
        """With many workspaces, a revoked token stops only its own workspace's work."""
        client = self.client(team)
        try:
            with translated(method):
                yield client
        except SlackAuthError as exc:
            if not self.workspaces.multi:
                raise
            self.workspaces.forget(team)
            raise WorkspaceUnavailable(exc.code) from exc

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
        """Post when the channel's budget allows; a 429 (Slack did not post) holds back that channel
        alone for its Retry-After, then the same message is posted again."""
        for attempt in itertools.count():
            self.pacer.wait(channel)
            try:
                with self._calling(team, "chat.postMessage") as client:
                    try:
                        resp = client.chat_postMessage(
                            channel=channel,
                            text=text,
                            blocks=blocks or None,
                            metadata=metadata,
                            thread_ts=thread_ts,
                            reply_broadcast=reply_broadcast or None,
                            unfurl_links=False,
                            unfurl_media=False,
                        )
                    finally:
                        self.pacer.sent(channel)
                return str(resp["channel"]), str(resp["ts"])
            except RateLimited as exc:
                if attempt >= POST_RATE_LIMIT_RETRIES:
                    raise
                log.info("chat.postMessage to %s: 429, waiting %.1f s", channel, exc.retry_after)
                self.pacer.hold(channel, exc.retry_after)
        raise AssertionError("unreachable")

    def update(self, team: str | None, channel: str, ts: str, text: str, blocks: list[Any]) -> None:
        with self._calling(team, "chat.update") as client:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

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
        """A message Settle posted before a crash, found by the metadata it carries: in the channel's
        history, or for a reply in its thread."""
        for msg in self._history(team, channel, oldest, thread_ts=thread_ts, metadata=True):
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get(key) == value:
                return str(msg["ts"])
        return None

    def find_file(self, team: str | None, channel: str, title: str, oldest: float) -> bool:
        """A file shared in the channel (a report) whose title is this one."""
        return any(
            (f or {}).get("title") == title
            for msg in self._history(team, channel, oldest)
            for f in msg.get("files") or []
        )

    def _history(
        self, team: str | None, channel: str, oldest: float, *, thread_ts: str | None = None, metadata: bool = False
    ) -> Iterator[dict[str, Any]]:
        """The channel's messages since `oldest` (or a thread's), page by page until the caller has
        what it looks for; none from a channel Settle cannot read (nothing of ours can be there)."""
        method = "conversations.replies" if thread_ts else "conversations.history"
        cursor: str | None = None
        try:
            with self._calling(team, method) as client:
                while True:
                    page: dict[str, Any] = {"channel": channel, "limit": 200}
                    if metadata:
                        page["include_all_metadata"] = True
                    if cursor:
                        page["cursor"] = cursor
                    if thread_ts:
                        resp = client.conversations_replies(ts=thread_ts, **page)
                    else:
                        resp = client.conversations_history(oldest=f"{oldest:.6f}", **page)
                    yield from resp.get("messages") or []
                    cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                    if not cursor:
                        return
        except ChannelUnavailable:
            return

    def join(self, team: str | None, channel: str) -> bool:
        try:
            with self._calling(team, "conversations.join") as client:
                client.conversations_join(channel=channel)
            return True
        except SlackUnreachable:
            raise
        except SlackError as exc:
            log.info("conversations.join %s failed: %s", channel, exc.code)
            return False

    def update_view(
        self,
        team: str | None,
        view: Any,
        *,
        view_id: str | None = None,
        external_id: str | None = None,
        view_hash: str | None = None,
    ) -> None:
        with self._calling(team, "views.update") as client:
            client.views_update(view=view, view_id=view_id, external_id=external_id, hash=view_hash)

    def post_ephemeral(self, team: str | None, channel: str, user: str, text: str) -> None:
        with self._calling(team, "chat.postEphemeral") as client:
            client.chat_postEphemeral(channel=channel, user=user, text=text)

    def publish_home(self, team: str | None, user: str, view: Any) -> None:
        with self._calling(team, "views.publish") as client:
            client.views_publish(user_id=user, view=view)

    def user_locale(self, team: str | None, user: str) -> str | None:
        with self._calling(team, "users.info") as client:
            found = client.users_info(user=user, include_locale=True)
        locale = (found.get("user") or {}).get("locale")
        return str(locale) if locale else None

    def user_tz_offset(self, team: str | None, user: str) -> int | None:
        with self._calling(team, "users.info") as client:
            found = client.users_info(user=user)
        offset = (found.get("user") or {}).get("tz_offset")
        return int(offset) if isinstance(offset, int) and abs(offset) <= 14 * 3600 else None

    def upload(self, team: str | None, channel: str, filename: str, content: bytes, title: str, comment: str) -> None:
        with self._calling(team, "files.upload_v2") as client:
            client.files_upload_v2(
                channel=channel, file=content, filename=filename, title=title, initial_comment=comment
            )

    def usergroup_members(self, team: str | None, group_id: str) -> list[str]:
        with self._calling(team, "usergroups.users.list") as client:
            users = client.usergroups_users_list(usergroup=group_id).get("users")
        return [u for u in users or [] if isinstance(u, str)]
