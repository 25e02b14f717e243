"""Errors the domain raises; the CLI and the Slack listeners each turn them into a reply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bot.balances.access import Decision
    from bot.read.model import BatchRecord


class SettleError(Exception):
    """Something the operator must fix; the message says what (the CLI prints it as one line)."""


class Refused(Exception):
    """The user may not do this; `decision` names who may."""

    def __init__(self, decision: Decision | None, message: str | None = None) -> None:
        super().__init__(message or "not allowed")
        self.decision = decision
        self.message = message


class NotSettleable(Exception):
    """The alert, invoice or settlement is gone, already paid, closed at the provider (voided,
    written off), or being settled by someone else."""

    def __init__(
        self,
        kind: Literal["gone", "paid", "closed", "busy"],
        batch: BatchRecord | None = None,
        *,
        by: str | None = None,
    ) -> None:
        super().__init__(kind)
        self.kind = kind
        self.batch = batch
        self.by = by or (batch.user_id if batch else None)


class ChargeOutcomeUnknown(Exception):
    """The provider did not answer a charge: it may or may not have gone through. Settle asks again
    with the same idempotency key, so it is charged at most once."""

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__("charge outcome unknown")
        self.request_id = request_id


class InvalidChoice(Exception):
    """The chosen payment method is not one of the account's."""
