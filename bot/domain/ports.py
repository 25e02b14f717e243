"""What the domain rooms need from the rooms above them, as protocols the composition root fills."""

from __future__ import annotations

from typing import Protocol


class Outbox(Protocol):
    """Brings an alert's Slack message up to date now (after the change that bumped it has committed);
    the deliverer. May raise a SlackError: the next poll delivers it anyway."""

    def deliver(self, alert_id: int) -> bool: ...
