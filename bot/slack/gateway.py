"""Every Slack Web API call the domain makes, with Slack's errors turned into typed ones.

Retries: 429s are waited out (Slack did not act on them); server errors and dropped connections
are retried only for calls that are safe to repeat. A post that Slack may have accepted is never
re-sent blindly: the alert outbox looks in the channel's history before posting again.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.observe.metrics import SLACK_ERRORS, SLACK_SECONDS
from bot.slack.pacing import ChannelPacer

log = logging.getLogger(__name__)

ALERT_EVENT_TYPE = "settle_alert"  # message metadata that lets a deliverer find its own post after a crash
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


class SlackUnreachable(SlackError):
    """Slack did not answer (timeout, refused or dropped connection)."""


class SlackAuthError(SlackError):
    """The bot token is wrong or revoked: nothing will work until it is fixed."""


class WorkspaceUnavailable(SlackError):
    """No bot token for the workspace (never installed, uninstalled, or revoked): that workspace's
    work waits; other workspaces' goes on."""


class RateLimited(SlackError):
    """Slack answered 429: it did not act on the call, which may be repeated after `retry_after`."""

    def __init__(self, code: str, retry_after: float) -> None:
        super().__init__(code)
        self.retry_after = retry_after


# Calls that create something each time they arrive: after a 5xx or a dropped connection Slack may
# have acted on them already, so they are not retried.
NOT_IDEMPOTENT = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.scheduleMessage",
        "views.open",
        "views.push",
        "files.upload",
        "files.completeUploadExternal",  # shares the file into the channel: a message
    }
)


# Calls paced per channel by the gateway itself: their 429s are handed back to it (not slept out
# inside the WebClient), so a 429 holds back only that channel.
PACED = frozenset({"chat.postMessage"})
POST_RATE_LIMIT_RETRIES = 5


def _method(request: HttpRequest) -> str:
    return request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


class _Except(RetryHandler):
    """Lets `inner` retry any call but those named: calls that repeating could do twice, or whose
    429s the gateway handles itself."""

    def __init__(self, inner: RetryHandler, methods: frozenset[str]) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner, self.methods = inner, methods

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if _method(request) in self.methods:
            return False
        return self.inner._can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self.inner.prepare_for_next_attempt(state=state, request=request, response=response, error=error)


def make_web_client(token: str | None, base_url: str, *, max_retries: int = 5) -> WebClient:
    """A WebClient that waits out 429s (honouring Retry-After; chat.postMessage's are left to the
    gateway's per-channel pacing) and retries 5xx and dropped connections of calls that are safe
    to repeat."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            _Except(ConnectionErrorRetryHandler(max_retry_count=2), NOT_IDEMPOTENT),
            _Except(RateLimitErrorRetryHandler(max_retry_count=max_retries), PACED),
            _Except(ServerErrorRetryHandler(max_retry_count=2), NOT_IDEMPOTENT),
        ],
    )


def _typed(exc: SlackApiError) -> SlackError:
    code = "unknown_error"
    if exc.response is not None:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or f"http_{exc.response.status_code}")
    if exc.response is not None and exc.response.status_code == 429:
        return RateLimited(code, _retry_after(exc.response.headers))
    if code in CHANNEL_ERRORS:
        return ChannelUnavailable(code)
    if code in GONE_ERRORS:
        return MessageGone(code)
    if code in FATAL_ERRORS:
        return SlackAuthError(code)
    return SlackError(code)


def _retry_after(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return min(max(float(raw), 0.0), 60.0)
            except (TypeError, ValueError):
                break
    return 1.0


def _unreachable(exc: OSError) -> SlackUnreachable:
    return SlackUnreachable("slack_timeout" if isinstance(exc, TimeoutError) else "slack_unreachable")


@contextmanager
def _translated(method: str = "other") -> Iterator[None]:
    """Slack's errors as typed ones: an error Slack answered, or no answer at all; each call timed."""
    started = time.perf_counter()
    try:
        yield
    except SlackApiError as exc:
        typed = _typed(exc)
        SLACK_ERRORS.labels(method, typed.code).inc()
        raise typed from exc
    except OSError as exc:
        unreachable = _unreachable(exc)
        SLACK_ERRORS.labels(method, unreachable.code).inc()
        raise unreachable from exc
    finally:
        SLACK_SECONDS.labels(method).observe(time.perf_counter() - started)


class SlackGateway(Protocol):
    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> tuple[str, str]: ...

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None: ...

    def find_alert(self, channel: str, alert_id: int, oldest: float) -> tuple[str, str] | None: ...

    def join(self, channel: str) -> bool: ...

    def update_view(self, view_id: str, view: View, view_hash: str | None = None) -> None: ...

    def post_ephemeral(self, channel: str, user: str, text: str) -> None: ...

    def publish_home(self, user: str, view: View) -> None: ...

    def user_locale(self, user: str) -> str | None: ...

    def upload(self, channel: str, filename: str, content: bytes, title: str, comment: str) -> None: ...

    def usergroup_members(self, group_id: str) -> list[str]: ...


class Workspaces(Protocol):
    """Where the bot token of a workspace comes from (bot/workspaces.py)."""

    multi: bool

    def client(self, team_id: str | None) -> WebClient: ...

    def resolve(self, team_id: str | None) -> str | None: ...

    def installed(self) -> frozenset[str] | None: ...

    def forget(self, team_id: str | None) -> None: ...


class WebSlackGateway:
    def __init__(self, client: WebClient | Workspaces, pacer: ChannelPacer | None = None) -> None:
        if isinstance(client, WebClient):
            from bot.slack.workspaces import SingleWorkspace

            client = SingleWorkspace(client)
        self.workspaces: Workspaces = client
        self.pacer = pacer or ChannelPacer()

    @property
    def client(self) -> WebClient:
        """The client of the workspace this call is for (the only one, with a single bot token)."""
        from bot.slack.workspaces import current_workspace

        return self.workspaces.client(current_workspace())

    @contextmanager
    def _translated(self, method: str) -> Iterator[None]:
        """With many workspaces, a revoked token stops only its own workspace's work."""
        try:
            with _translated(method):
                yield
        except SlackAuthError as exc:
            if not self.workspaces.multi:
                raise
            from bot.slack.workspaces import current_workspace

            self.workspaces.forget(current_workspace())
            raise WorkspaceUnavailable(exc.code) from exc

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> tuple[str, str]:
        """Post when the channel's budget allows; a 429 (Slack did not post) holds back that channel
        alone for its Retry-After, then the same message is posted again."""
        for attempt in itertools.count():
            self.pacer.wait(channel)
            try:
                with self._translated("chat.postMessage"):
                    try:
                        resp = self.client.chat_postMessage(
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

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        with self._translated("chat.update"):
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def find_alert(self, channel: str, alert_id: int, oldest: float) -> tuple[str, str] | None:
        """Look for an alert we may have posted before a crash, by the metadata it carries."""
        cursor: str | None = None
        try:
            with self._translated("conversations.history"):
                while True:
                    resp = self.client.conversations_history(
                        channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200, cursor=cursor
                    )
                    for msg in resp.get("messages") or []:
                        meta = msg.get("metadata") or {}
                        payload = meta.get("event_payload") or {}
                        if meta.get("event_type") == ALERT_EVENT_TYPE and payload.get("alert_id") == alert_id:
                            return channel, str(msg["ts"])
                    cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                    if not cursor:
                        return None
        except ChannelUnavailable:
            return None  # nothing of ours can be there

    def join(self, channel: str) -> bool:
        try:
            with self._translated("conversations.join"):
                self.client.conversations_join(channel=channel)
            return True
        except SlackUnreachable:
            raise
        except SlackError as exc:
            log.info("conversations.join %s failed: %s", channel, exc.code)
            return False

    def update_view(self, view_id: str, view: View, view_hash: str | None = None) -> None:
        with self._translated("views.update"):
            self.client.views_update(view_id=view_id, view=view, hash=view_hash)

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        with self._translated("chat.postEphemeral"):
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    def publish_home(self, user: str, view: View) -> None:
        with self._translated("views.publish"):
            self.client.views_publish(user_id=user, view=view)

    def user_locale(self, user: str) -> str | None:
        with self._translated("users.info"):
            found = self.client.users_info(user=user, include_locale=True)
        locale = (found.get("user") or {}).get("locale")
        return str(locale) if locale else None

    def upload(self, channel: str, filename: str, content: bytes, title: str, comment: str) -> None:
        with self._translated("files.upload_v2"):
            self.client.files_upload_v2(
                channel=channel, file=content, filename=filename, title=title, initial_comment=comment
            )

    def usergroup_members(self, group_id: str) -> list[str]:
        with self._translated("usergroups.users.list"):
            users = self.client.usergroups_users_list(usergroup=group_id).get("users")
        return [u for u in users or [] if isinstance(u, str)]


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
        reply_broadcast: bool = False,
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

    def find_alert(self, channel: str, alert_id: int, oldest: float) -> tuple[str, str] | None:
        for msg in self.messages:
            if msg.channel == channel and (msg.metadata or {}).get("event_payload", {}).get("alert_id") == alert_id:
                return channel, msg.ts
        return None

    def join(self, channel: str) -> bool:
        return True

    def update_view(self, view_id: str, view: View, view_hash: str | None = None) -> None:
        raise SlackError("not_found")  # the demo has no modals

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self.messages.append(RecordedMessage(channel, "", text, [], None))

    def publish_home(self, user: str, view: View) -> None:
        pass  # the demo has no App Home

    def user_locale(self, user: str) -> str | None:
        return None

    def upload(self, channel: str, filename: str, content: bytes, title: str, comment: str) -> None:
        self.messages.append(RecordedMessage(channel, "", comment, [], None))

    def usergroup_members(self, group_id: str) -> list[str]:
        return []
