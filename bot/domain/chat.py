"""What the domain needs of Slack: a gateway that speaks for a named workspace, the errors it raises,
and the directory of installed workspaces. bot/slack/ implements them; the composition root passes
the implementation in, so no domain room imports Slack's SDK.

Every call names the workspace it speaks for (`team`): the one the alert was posted in, the account's,
or the request's. None means "the only one": with a single bot token, or one workspace installed."""

from __future__ import annotations

from typing import Any, Protocol

# The message metadata every alert carries, so a deliverer finds its own post after a crash.
ALERT_EVENT_TYPE = "settle_alert"


class SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ChannelUnavailable(SlackError):
    """The bot cannot post in that channel (missing, archived, or not a member)."""


class MessageGone(SlackError):
    """The message was deleted."""


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


class SlackGateway(Protocol):
    """Blocks and views are slack_sdk model objects (or their dicts), built by handlers/blocks."""

    def post(
        self,
        team: str | None,
        channel: str,
        text: str,
        blocks: list[Any],
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> tuple[str, str]: ...

    def update(self, team: str | None, channel: str, ts: str, text: str, blocks: list[Any]) -> None: ...

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
        """The ts of a message Settle posted with this metadata (in `thread_ts`'s thread, if given)."""
        ...

    def find_file(self, team: str | None, channel: str, title: str, oldest: float) -> bool:
        """Whether a file with this title was shared in the channel since `oldest`."""
        ...

    def join(self, team: str | None, channel: str) -> bool: ...

    def update_view(
        self,
        team: str | None,
        view: Any,
        *,
        view_id: str | None = None,
        external_id: str | None = None,
        view_hash: str | None = None,
    ) -> None: ...

    def post_ephemeral(self, team: str | None, channel: str, user: str, text: str) -> None: ...

    def publish_home(self, team: str | None, user: str, view: Any) -> None: ...

    def user_locale(self, team: str | None, user: str) -> str | None: ...

    def user_tz_offset(self, team: str | None, user: str) -> int | None:
        """Seconds east of UTC in the user's Slack time zone (users.info `tz_offset`)."""
        ...

    def upload(
        self, team: str | None, channel: str, filename: str, content: bytes, title: str, comment: str
    ) -> None: ...

    def usergroup_members(self, team: str | None, group_id: str) -> list[str]: ...


class Workspaces(Protocol):
    """The Slack workspaces Settle can speak for (one bot token, or every workspace that installed it)."""

    multi: bool

    def resolve(self, team_id: str | None) -> str | None:
        """A team, or for none the only workspace installed (None when there are several)."""
        ...

    def installed(self) -> frozenset[str] | None:
        """The teams with a bot token now; None when every team is reachable (one bot token)."""
        ...
