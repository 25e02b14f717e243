"""Settle's tables, one module per aggregate, all on one declarative Base. Imports nothing of bot/ (the
sandbox provider keeps its own tables, with the sandbox, on the same Base).

Importing this package registers every Settle table on `Base.metadata`, as the migrations expect."""

from storage.models.accounts import Account, AccountAdmin
from storage.models.audit import AuditEvent
from storage.models.balances import Alert, AlertInvoice, Decline
from storage.models.base import (
    ALERT_DONE_STATES,
    ALERT_IS_OPEN_SQL,
    SETTLEMENT_HOLDING_STATES,
    UNSYNCED_SQL,
    Base,
    UTCDateTime,
    utcnow,
)
from storage.models.feed import PollCursor, ProviderEvent
from storage.models.ops import AppSecret, Lease, MonthlyReport, ScanClaim
from storage.models.outbox import UNPOSTABLE, Digest, Message
from storage.models.settlements import ApprovalRequest, ScheduledRetry, Settlement, SettlementBatch
from storage.models.slack_ui import HomeViewer, ModalView, MorningList, UserSetting
from storage.models.warnings import CardWarning
from storage.models.workspaces import WorkspaceSetting, slack_bots, slack_installations, slack_oauth_states

__all__ = [
    "ALERT_DONE_STATES",
    "ALERT_IS_OPEN_SQL",
    "SETTLEMENT_HOLDING_STATES",
    "UNPOSTABLE",
    "UNSYNCED_SQL",
    "Account",
    "AccountAdmin",
    "Alert",
    "AlertInvoice",
    "AppSecret",
    "ApprovalRequest",
    "AuditEvent",
    "Base",
    "CardWarning",
    "Decline",
    "Digest",
    "HomeViewer",
    "Lease",
    "Message",
    "ModalView",
    "MonthlyReport",
    "MorningList",
    "PollCursor",
    "ProviderEvent",
    "ScanClaim",
    "ScheduledRetry",
    "Settlement",
    "SettlementBatch",
    "UTCDateTime",
    "UserSetting",
    "WorkspaceSetting",
    "slack_bots",
    "slack_installations",
    "slack_oauth_states",
    "utcnow",
]
