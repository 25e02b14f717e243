"""Every action_id, callback_id and block_id, shared by builders and listeners."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    SETTLE_OPEN = "settle_open"
    VIEW_INVOICE = "view_invoice"


class Block(StrEnum):
    ALERT_HEADER = "alert_header"
    ALERT_FACTS = "alert_facts"
    ALERT_REASON = "alert_reason"
    ALERT_ACTIONS = "alert_actions"
    ALERT_FOOTER = "alert_footer"


ALERT_EVENT_TYPE = "settle_alert"
