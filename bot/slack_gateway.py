"""The Slack Web API calls the alert loop makes, with Slack's errors turned into typed ones."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.models.blocks import Block

from handlers.ids import ALERT_EVENT_TYPE

log = logging.getLogger(__name__)

CHANNEL_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"}
GONE_ERRORS = {"message_not_found", "cant_update_message"}
FATAL_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


class SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ChannelUnavailable(SlackError):
    """The bot cannot post in that channel (missing, archived, or not a member)."""


class MessageGone(SlackError):
    """The alert message was deleted."""


class SlackAuthError(SlackError):
    """The bot token is wrong or revoked: nothing will work until it is fixed."""


def make_web_client(token: str | None, base_url: str, *, max_retries: int = 5) -> WebClient:
    """A WebClient that waits out 429s (honouring Retry-After) and retries 5xx and dropped connections."""
    client = WebClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers = [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=2),
    ]
    return client


def _typed(exc: SlackApiError) -> SlackError:
    code = str(exc.response.get("error", "unknown_error")) if exc.response is not None else "unknown_error"
    if code in CHANNEL_ERRORS:
        return ChannelUnavailable(code)
    if code in GONE_ERRORS:
        return MessageGone(code)
    if code in FATAL_ERRORS:
        return SlackAuthError(code)
    return SlackError(code)


class SlackGateway(Protocol):
    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, str]: ...

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None: ...

    def find_alert(self, channel: str, invoice_id: str, oldest: float) -> tuple[str, str] | None: ...

    def join(self, channel: str) -> bool: ...


class WebSlackGateway:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        try:
            resp = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                metadata=metadata,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise _typed(exc) from exc
        return str(resp["channel"]), str(resp["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            raise _typed(exc) from exc

    def find_alert(self, channel: str, invoice_id: str, oldest: float) -> tuple[str, str] | None:
        """Look for an alert we may have posted before a crash, by the metadata it carries."""
        cursor: str | None = None
        try:
            while True:
                resp = self.client.conversations_history(
                    channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200, cursor=cursor
                )
                for msg in resp.get("messages") or []:
                    meta = msg.get("metadata") or {}
                    payload = meta.get("event_payload") or {}
                    if meta.get("event_type") == ALERT_EVENT_TYPE and payload.get("invoice_id") == invoice_id:
                        return channel, str(msg["ts"])
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return None
        except SlackApiError as exc:
            err = _typed(exc)
            if isinstance(err, ChannelUnavailable):
                return None
            raise err from exc

    def join(self, channel: str) -> bool:
        try:
            self.client.conversations_join(channel=channel)
            return True
        except SlackApiError as exc:
            log.info("conversations.join %s failed: %s", channel, exc.response.get("error"))
            return False


@dataclass
class RecordedMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    thread_ts: str | None = None


@dataclass
class RecordingGateway:
    """Keeps messages in memory instead of sending them: `settle demo`'s Slack."""

    messages: list[RecordedMessage] = field(default_factory=list)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages.append(RecordedMessage(channel, ts, text, [b.to_dict() for b in blocks], metadata, thread_ts))
        return channel, ts

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        for msg in self.messages:
            if msg.channel == channel and msg.ts == ts:
                msg.text, msg.blocks = text, [b.to_dict() for b in blocks]
                return
        raise MessageGone("message_not_found")

    def find_alert(self, channel: str, invoice_id: str, oldest: float) -> tuple[str, str] | None:
        for msg in self.messages:
            if msg.channel == channel and (msg.metadata or {}).get("event_payload", {}).get("invoice_id") == invoice_id:
                return channel, msg.ts
        return None

    def join(self, channel: str) -> bool:
        return True
