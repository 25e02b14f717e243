"""Every action_id, callback_id and block_id, shared by builders and listeners."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    SETTLE_OPEN = "settle_open"
    VIEW_INVOICE = "view_invoice"
    METHOD_CHOICE = "method_choice"
    MAKE_DEFAULT = "make_default"
    ADD_METHOD = "add_method"
    REFRESH_METHODS = "refresh_methods"
    VERIFY = "verify_with_bank"
    CHECK_VERIFICATION = "check_verification"
    USE_ANOTHER_CARD = "use_another_card"
    INVOICE_CHOICE = "invoice_choice"
    ALERT_MENU = "alert_menu"  # the alert's overflow: snooze for a while, until a date, wake up
    ASSIGN = "assign"
    SNOOZE_DATE = "snooze_date"
    END_BALANCE = "end_balance"  # the alert's "Paid another way, void or write off…" menu
    END_REASON = "end_reason"
    NEXT_STEP = "next_step"  # the alert's button for the step its reason adds: send page, retry on, new card
    RETRY_DATE = "retry_date"
    RETRY_METHOD = "retry_method"
    DIGEST_HEADER = "digest_header"
    DIGEST_FACTS = "digest_facts"
    DIGEST_REASONS = "digest_reasons"
    DIGEST_ACTIONS = "digest_actions"
    DIGEST_FOOTER = "digest_footer"
    DIGEST_NAV = "digest_nav"
    CUSTOMER_PAGE = "customer_page"  # + _card or _N: a link out in the customer's notice (only acked)
    APPROVE = "approval_approve"  # a request above SETTLE_APPROVAL_ABOVE: another admin decides
    REJECT = "approval_reject"
    UPDATE_CARD = "update_card"
    DIGEST_LIST = "digest_list"  # a storm's digest: the list of every balance it tells of
    DIGEST_PAGE = "digest_page"
    DIGEST_PAGE_BACK = "digest_page_back"  # Previous, beside Next: action ids are unique within a block


class CallbackId(StrEnum):
    """A modal's callback_id (which step it is); not Slack's view id."""

    PICK = "settle_pick"
    CONFIRM = "settle_confirm"
    STATUS = "settle_status"
    SNOOZE = "settle_snooze"
    END = "settle_end"
    ASK = "settle_ask"
    RETRY = "settle_retry"
    DIGEST_LIST = "settle_digest_list"


class BlockId(StrEnum):
    ALERT_HEADER = "alert_header"
    ALERT_FACTS = "alert_facts"
    ALERT_INVOICES = "alert_invoices"
    ALERT_REASON = "alert_reason"
    ALERT_ACTIONS = "alert_actions"
    ALERT_FOOTER = "alert_footer"
    METHOD = "method"
    INVOICES = "invoices"
    MAKE_DEFAULT = "make_default"
    MODAL_ACTIONS = "modal_actions"
    END_REASON = "end_reason"
    SNOOZE_DATE = "snooze_date"
    RETRY_DATE = "retry_date"
    RETRY_METHOD = "retry_method"
    DIGEST_HEADER = "digest_header"
    DIGEST_FACTS = "digest_facts"
    DIGEST_REASONS = "digest_reasons"
    DIGEST_ACTIONS = "digest_actions"
    DIGEST_FOOTER = "digest_footer"
    DIGEST_NAV = "digest_nav"
