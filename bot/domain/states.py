"""The states an alert and a settlement move through. StrEnum: rows store the plain strings."""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    OPEN = "open"  # declined, nobody is settling it
    SETTLING = "settling"  # a confirmed charge is in flight
    VERIFICATION_PENDING = "verification_pending"  # the bank asked the admin to verify
    PAID = "paid"
    CLOSED = "closed"  # nothing left to pay, but not all of it was paid (voided, written off)


# An alert in one of these is over: a later decline opens a new one.
ALERT_DONE = (AlertState.PAID, AlertState.CLOSED)


class InvoiceState(StrEnum):
    """An invoice of an alert's balance. Only an open one can be settled."""

    OPEN = "open"
    PAID = "paid"
    VOIDED = "voided"  # cancelled at the provider: nobody owes it any more
    UNCOLLECTIBLE = "uncollectible"  # written off at the provider


class SettlementStatus(StrEnum):
    PENDING = "pending"  # a method was chosen, not yet confirmed
    CHARGING = "charging"  # confirmed and claimed: the provider call is (or was) under way
    REQUIRES_ACTION = "requires_action"  # waiting for the bank's verification
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    EXPIRED = "expired"  # a verification nobody finished


# A settlement in one of these holds its invoice: the partial unique index allows one per invoice.
SETTLEMENT_HOLDS_INVOICE = (SettlementStatus.CHARGING, SettlementStatus.REQUIRES_ACTION, SettlementStatus.SUCCEEDED)


# what an invoice marked paid from Slack without a card (a transfer, a cheque) keeps as "paid with"
PAID_ANOTHER_WAY = "another way"
