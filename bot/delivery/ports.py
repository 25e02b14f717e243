"""What delivery needs from the Slack UI: renderers of read-model records into Slack's messages and
views. The composition root (bot/app.py) passes in handlers/blocks' implementations, so nothing here
imports a Block Kit builder."""

from __future__ import annotations

from typing import Any, Protocol

from bot.read.approvals import ApprovalCard
from bot.read.cards import AlertCard
from bot.read.digests import DigestCard
from bot.read.home import HomeSummary
from bot.read.notices import CustomerNotice


class AlertRenderer(Protocol):
    """Turns an alert's record into the message Slack shows."""

    def text(self, card: AlertCard) -> str: ...

    def blocks(self, card: AlertCard) -> list[Any]: ...

    def reply(self, card: AlertCard, kind: str, detail: dict[str, Any]) -> str:
        """A thread reply under the alert (a later decline, a balance that grew, a settlement)."""
        ...


class HomeRenderer(Protocol):
    def view(self, summary: HomeSummary) -> Any: ...


class DigestRenderer(Protocol):
    """A storm's digest in its channel, and the replies under it (a reminder for its balances)."""

    def text(self, digest: DigestCard) -> str: ...

    def blocks(self, digest: DigestCard) -> list[Any]: ...

    def reply(self, digest: DigestCard, kind: str, detail: dict[str, Any]) -> str: ...


class ApprovalRenderer(Protocol):
    """A request for a second pair of eyes, in its alert's thread: Approve / Reject while it waits."""

    def text(self, request: ApprovalCard) -> str: ...

    def blocks(self, request: ApprovalCard) -> list[Any]: ...


class NoticeRenderer(Protocol):
    """A decline told to the customer in a channel shared with them: only words meant for them."""

    def text(self, notice: CustomerNotice) -> str: ...

    def blocks(self, notice: CustomerNotice) -> list[Any]: ...
