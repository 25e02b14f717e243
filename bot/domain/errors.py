"""Errors the domain raises; the CLI and the Slack listeners each turn them into a reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class SettleError(Exception):
    """Something the operator must fix; the message says what (the CLI prints it as one line)."""


@dataclass(frozen=True)
class Decision:
    """May someone settle an account? `admins` names who may, for the refusal message."""

    allowed: bool
    account_name: str
    admins: tuple[str, ...]  # user and group ids that may settle


class Refused(Exception):
    """The user may not do this; `decision` names who may, `action` what was refused (settle,
    snooze, assign, update_card), so the answer names what they tried."""

    def __init__(self, decision: Decision | None, message: str | None = None, *, action: str = "settle") -> None:
        super().__init__(message or "not allowed")
        self.decision = decision
        self.message = message
        self.action = action


class NotSettleable(Exception):
    """The alert, invoice or settlement is gone, already paid, closed at the provider (voided,
    written off), or being settled by someone else (`by`)."""

    def __init__(self, kind: Literal["gone", "paid", "closed", "busy"], *, by: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.by = by


class ChargeOutcomeUnknown(Exception):
    """The provider did not answer a charge: it may or may not have gone through. Settle asks again
    with the same idempotency key, so it is charged at most once."""

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__("charge outcome unknown")
        self.request_id = request_id


class InvalidChoice(Exception):
    """The chosen payment method is not one of the account's."""


class BillingError(Exception):
    """A request the provider refuses (unknown invoice, paid invoice, foreign card...)."""


class ProviderUnavailable(Exception):
    """The provider did not answer (network, rate limit, its own error, a refused key), after its
    client's retries. Not a BillingError: for a charge the outcome is unknown, never "declined"."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
