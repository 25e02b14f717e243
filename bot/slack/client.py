"""The Slack Web API client Settle uses: which calls may be retried, and Slack's errors as the typed
ones of bot/domain/chat.py.

Retries: 429s are waited out (Slack did not act on them); server errors and dropped connections
are retried only for calls that are safe to repeat. A post that Slack may have accepted is never
re-sent blindly: the alert outbox looks in the channel's history before posting again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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

from bot.domain.chat import (
    ChannelUnavailable,
    MessageGone,
    RateLimited,
    SlackAuthError,
    SlackError,
    SlackUnreachable,
)
from bot.observe.metrics import SLACK_ERRORS, SLACK_SECONDS

CHANNEL_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"}
GONE_ERRORS = {"message_not_found", "cant_update_message"}
FATAL_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


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


def typed(exc: SlackApiError) -> SlackError:
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
def translated(method: str = "other") -> Iterator[None]:
    """Slack's errors as typed ones: an error Slack answered, or no answer at all; each call timed."""
    started = time.perf_counter()
    try:
        yield
    except SlackApiError as exc:
        error = typed(exc)
        SLACK_ERRORS.labels(method, error.code).inc()
        raise error from exc
    except OSError as exc:
        unreachable = _unreachable(exc)
        SLACK_ERRORS.labels(method, unreachable.code).inc()
        raise unreachable from exc
    finally:
        SLACK_SECONDS.labels(method).observe(time.perf_counter() - started)
