"""Every view fits Slack's limits in every language: every modal, message and Home view is built for
every catalogue language with the longest amounts, names and descriptions, and checked the way Slack
would take it.

For each language, every builder in handlers/blocks/ is called with extreme inputs (12,345,678,900
minor units in six currencies, a mixed balance of 60 invoices, account names and invoice
descriptions of 5,000 characters, hostile text, a dozen saved cards, long card labels, every alert
state) and each result is
  1. validated by slack_sdk.models (each block's `to_dict()`, a view's `to_dict()`, a dict view
     parsed with `View(**d)` first);
  2. walked for what slack_sdk does not check: Slack's published limits for every field (mrkdwn.py's
     and a few more), block and option counts, block_id and action_id uniqueness, empty plain text;
  3. checked for clipped labels: a button, modal title, submit, close, option, placeholder, input
     label or header built from a catalogue label must not end in `clip`'s "…" (unless the
     catalogue's own text ends so): it is chosen to fit, never cut. Outside data may be clipped: a
     name at the end of a header, the card label of a card choice, an invoice's option;
  4. checked for markup: outside text never reaches mrkdwn (or a message's `text`) as markup, and a
     clipped text never ends in half an entity or half a `<…>` token; a message's `text` fits
     Slack's 4,000 characters;
  5. in a language other than English, no label is left in English.
Every problem of a language is collected into one list, with the builder, the field, the value, its
length and Slack's limit."""

from __future__ import annotations

import gettext
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from unittest import mock

import pytest
import time_machine
from babel.messages.pofile import read_po
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

import bot.i18n
from bot.delivery.morning import MorningSummary
from bot.domain.records import Card, Invoice, PaymentMethod, card_label
from bot.domain.states import AlertState, InvoiceState, SettlementStatus
from bot.i18n import CATALOGUES, DEFAULT, DOMAIN, _, available, use
from bot.read.approvals import ApprovalCard
from bot.read.batches import BatchRecord, SettlementRecord
from bot.read.cards import AlertCard, Awaiting, InvoiceLine
from bot.read.context import SettleContext
from bot.read.digests import DigestCard
from bot.read.home import HomeSummary
from bot.read.notices import CustomerNotice, NoticeInvoice
from bot.read.report import PATHS, CurrencyReport, MonthReport, PathFigures
from bot.read.unfurls import Unfurl
from bot.read.warnings import WarningCard
from bot.settlement.asking import AskLinks
from bot.settlement.retries import RetryForm
from handlers.blocks import (
    alert_message,
    balance_list,
    card_warning,
    digest,
    follow_up,
    home,
    mrkdwn,
    settle_modal,
)
from handlers.blocks import approval as ap
from handlers.blocks import customer_notice as cn
from handlers.blocks import morning as mo
from handlers.blocks import next_steps as ns
from handlers.blocks import unfurl as uf
from handlers.blocks.mrkdwn import (
    BUTTON,
    CONTEXT,
    FIELD,
    HEADER,
    MESSAGE_TEXT,
    OPTION_DESCRIPTION,
    OPTION_TEXT,
    SECTION,
    TITLE,
    clip,
    escape,
)
from handlers.support.ids import BlockId

# --- Slack's limits that mrkdwn.py does not name (https://api.slack.com/reference/block-kit) ------------
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
PRIVATE_METADATA = 3000
EXTERNAL_ID = 255
ID = 255  # block_id, action_id, callback_id
BUTTON_VALUE = 2000
URL = 3000
OPTION_VALUE = 150
PLACEHOLDER = 150
INPUT_LABEL = 2000
SECTION_FIELDS = 10
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
OVERFLOW_OPTIONS = 5
CHOICE_OPTIONS = 10  # checkboxes, radio buttons
SELECT_OPTIONS = 100
CLIP = clip("xx", 1)  # the marker `clip` ends a shortened text with

# --- Extreme inputs ------------------------------------------------------------------------------------
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DECLINED_AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
HOSTILE = "<!channel> <script>alert(1)</script> *bold* & <@U123>"
RAW_MARKUP = ("<!channel>", "<script>", "</script>", "<@U123>")  # what HOSTILE must never become in mrkdwn


def long_text(seed: str, n: int = 5000) -> str:
    return (seed * (n // len(seed) + 1))[:n]


LONG_NAME = long_text(f"Internationale Handels- en Beleggingsmaatschappij {HOSTILE} ")
LONG_DESC = long_text(f"Business Standard, 250 seats, November-December {HOSTILE} ")
HUGE = 12_345_678_900  # US$ 123.456.789,00
MID = 1_234_567  # US$ 12.345,67: "{amount} afschrijven" was 25 characters in Dutch
CURRENCIES = ("USD", "CHF", "EUR", "GBP", "JPY", "BHD")
ADMIN = "U0ADMIN0001"
OTHER = "W0123456789ABCDEFGHIJ"  # the longest user id Slack's pattern allows
GROUP = "S0FINANCE01"
BAD_ID = "S|x> <!everyone"  # a malformed id from a file: shown as text, never a mention
CHANNEL = "C0123456789ABCDEFGHIJ"
USERS = (ADMIN, OTHER, GROUP, BAD_ID)
LONG_CARD = card_label("Cartes Bancaires", "4242")  # a long real brand
HOSTILE_CARD = card_label(f"{HOSTILE} {HOSTILE}", "0005")  # a provider's brand is outside text too
REASONS = (
    "authentication_required",
    "insufficient_funds",
    "expired_card",
    "withdrawal_count_limit_exceeded",
    "transaction_not_allowed",
    "currency_not_supported",
    "try_again_later",
    "a_decline_code_from_2030",  # unknown to Settle: explained by its code
)
ALERT_ID = 2**31 - 1
EXTERNAL = "settle-V0123456789ABCDEFGH"


def invoice_id(i: int) -> str:
    return f"in_1Q{i:04d}XyZaBcDeFgHiJkLmNoP"  # as long as Stripe's


def invoice_lines(n: int, state: InvoiceState = InvoiceState.OPEN, desc: str = LONG_DESC) -> tuple[InvoiceLine, ...]:
    """`n` invoices of every currency; a closed balance's end in every way (voided, written off, paid)."""
    ended = (InvoiceState.VOIDED, InvoiceState.UNCOLLECTIBLE, InvoiceState.PAID)
    out = []
    for i in range(n):
        st = ended[i % 3] if state == InvoiceState.VOIDED else state
        out.append(
            InvoiceLine(
                invoice_id=invoice_id(i),
                description=desc,
                url=f"https://billing.example/invoices/{invoice_id(i)}",
                amount_minor=HUGE - i,
                currency=CURRENCIES[i % len(CURRENCIES)],
                decline_count=1 + (i * 7) % 99,
                reason=REASONS[i % len(REASONS)],
                paid=st == InvoiceState.PAID,
                paid_by=USERS[i % len(USERS)] if st == InvoiceState.PAID else None,
                paid_with=(LONG_CARD, HOSTILE_CARD)[i % 2] if st == InvoiceState.PAID else None,
                state=st,
            )
        )
    return tuple(out)


def full_card(state: AlertState, n: int = 60) -> AlertCard:
    """An alert with every fact there can be."""
    invoices = {
        AlertState.PAID: invoice_lines(n, InvoiceState.PAID),
        AlertState.CLOSED: invoice_lines(n, InvoiceState.VOIDED),
    }.get(state, invoice_lines(n))
    return AlertCard(
        alert_id=ALERT_ID,
        account_id="cus_" + "A" * 60,
        account_name=LONG_NAME,
        invoices=invoices,
        card_label=HOSTILE_CARD,
        declined_method_id="pm_0",
        reason="authentication_required",
        outcome="declined",
        decline_count=99,
        declined_at=DECLINED_AT,
        state=state,
        intended_channel=CHANNEL,
        paid_at=NOW - timedelta(minutes=5) if state == AlertState.PAID else None,
        paid_by=ADMIN if state == AlertState.PAID else None,
        paid_with=HOSTILE_CARD if state == AlertState.PAID else None,
        pending_by=OTHER if state in (AlertState.SETTLING, AlertState.VERIFICATION_PENDING) else None,
        attempt_kind="declined",
        attempt_card=HOSTILE_CARD,
        attempt_reason="insufficient_funds",
        attempt_by=OTHER,
        attempt_at=DECLINED_AT + timedelta(days=1),
        attempt=4,
        next_attempt_at=NOW + timedelta(days=3),
        retries_known=True,
        test_mode=True,
        opened_at=DECLINED_AT - timedelta(days=400),
        snoozed_until=NOW + timedelta(days=30),
        snoozed_by=BAD_ID,
        assignee=OTHER,
        assigned_by=ADMIN,
        bank_message=LONG_DESC,
        asked_customer="pay",
        asked_by=OTHER,
        asked_at=NOW - timedelta(hours=2),
        retry_at=NOW + timedelta(days=12),
        retry_by=BAD_ID,
        retry_card=HOSTILE_CARD,
        awaiting=tuple(
            Awaiting(i, kind, BAD_ID if i == 1 else ADMIN, NOW + timedelta(hours=24), {c: HUGE for c in CURRENCIES})
            for i, kind in enumerate(("settle", "retry", "paid", HOSTILE), start=1)
        ),
    )


def approval(status: str, kind: str = "settle", **changes: Any) -> ApprovalCard:
    """A request for a second pair of eyes with every fact there can be."""
    request = ApprovalCard(
        request_id=ALERT_ID,
        kind=kind,
        status=status,
        requested_by=ADMIN,
        amounts={c: HUGE for c in CURRENCIES},
        card_label=HOSTILE_CARD,
        reason=long_text(HOSTILE, 500),
        expires_at=NOW + timedelta(hours=24),
        created_at=NOW,
        alert=full_card(AlertState.OPEN),
        approvers=tuple(USERS) * 5,
        decided_by=None if status == "pending" else OTHER,
        decided_at=None if status == "pending" else NOW,
        retry_due=NOW + timedelta(days=12) if kind == "retry" else None,
    )
    return replace(request, **changes)


def notice(state: AlertState, kind: Any, n: int) -> CustomerNotice:
    """A customer's notice with as much as there can be: a long hostile name, many invoices, currencies."""
    invoices = tuple(
        NoticeInvoice(HUGE, CURRENCIES[i % len(CURRENCIES)], "https://pay.example/" + "x" * 2900) for i in range(n)
    )
    return CustomerNotice(
        name=LONG_NAME,
        language="en",
        state=state,
        kind=kind,
        owed={c: HUGE for c in CURRENCIES} if n else {},
        paid={c: HUGE for c in CURRENCIES},
        invoices=invoices,
        card_url="https://pay.example/card/" + "y" * 2900,
    )


def approvals() -> dict[str, ApprovalCard]:
    out = {f"{kind}, waiting": approval("pending", kind) for kind in ("settle", "retry", "paid")}
    out["waiting, nobody named"] = approval("pending", approvers=None, alert=small_card(AlertState.OPEN))
    out["waiting, nobody else may"] = approval("pending", approvers=())
    out["waiting, the card becomes the default"] = approval("pending", make_default=True)
    out["waiting, past its time"] = approval("pending", expires_at=NOW - timedelta(minutes=1))
    for outcome in (None, "succeeded", "partial", "declined", "requires_action", "unknown", "scheduled", "ended",
                    "already_charged", "busy", "balance_changed", "requester_refused", "not_scheduled",
                    "not_settleable:paid", "not_settleable:busy", "not_settleable:closed", "not_settleable:gone",
                    "charging", "pending", "not_ended", "too_late", "failed", HOSTILE):  # fmt: skip
        out[f"approved, {outcome}"] = approval("approved", outcome=outcome)
    out["rejected"] = approval("rejected")
    out["expired"] = approval("expired", decided_by=None)
    return out


def small_card(state: AlertState) -> AlertCard:
    """An alert with one invoice and as little as there can be: no card, no attempt, no retries."""
    full = full_card(state, 1)
    return replace(
        full,
        account_name=HOSTILE,
        invoices=(replace(full.invoices[0], description="", amount_minor=MID, currency="USD", decline_count=1),),
        card_label=None,
        reason=HOSTILE,  # an unknown decline code is explained by its code: outside text as well
        decline_count=1,
        intended_channel=None,
        pending_by=None,
        paid_by=None,
        attempt_kind="unverified",
        attempt_card=None,
        attempt_reason=None,
        attempt_by=None,
        attempt_at=None,
        attempt=None,
        next_attempt_at=None,
        retries_known=False,
        test_mode=False,
        opened_at=None,
        snoozed_until=NOW - timedelta(days=1),  # a snooze that is over
        assignee=BAD_ID,
        assigned_by=BAD_ID,
        bank_message=None,
        asked_customer=HOSTILE,  # not a kind Settle knows: not shown
        retry_at=None,
    )


BRANDS = ("Visa", "Mastercard", "American Express", "Cartes Bancaires", "UnionPay", "Diners Club", HOSTILE)


def methods(n: int) -> list[PaymentMethod]:
    """`n` saved cards: the first the default (and the one declined), every third expired."""
    return [
        PaymentMethod(
            id=f"pm_{i}",
            card=Card(BRANDS[i % len(BRANDS)] * (1 + i % 3), f"{i:04d}"),
            exp_month=1 + i % 12,
            exp_year=2020 if i % 3 == 0 else 2099,
            is_default=i == 0,
        )
        for i in range(n)
    ]


def invoices(n: int) -> list[Invoice]:
    return [
        Invoice(invoice_id(i), "cus_A", HUGE - i, CURRENCIES[i % len(CURRENCIES)], LONG_DESC, "open", None)
        for i in range(n)
    ]


def context(n_invoices: int, n_methods: int, **changes: Any) -> SettleContext:
    ctx = SettleContext(
        alert=full_card(AlertState.OPEN, n_invoices),
        invoices=invoices(n_invoices),
        methods=methods(n_methods),
        add_method_url="https://billing.example/add-card/" + "x" * 200,
        in_flight=None,
        # the declined default card, just added again: every note a card can have
        preselect_method_id="pm_0" if n_methods else None,
    )
    return replace(ctx, **changes)


def settlement(i: int, status: SettlementStatus, **changes: Any) -> SettlementRecord:
    st = SettlementRecord(
        id=i + 1,
        batch_id=ALERT_ID,
        alert_id=ALERT_ID,
        account_id="cus_A",
        invoice_id=invoice_id(i),
        invoice_description=LONG_DESC,
        amount_minor=HUGE - i,
        currency=CURRENCIES[i % len(CURRENCIES)],
        card_label=HOSTILE_CARD,
        payment_method_id="pm_0",
        user_id=ADMIN,
        status=status,
        reason=REASONS[i % len(REASONS)] if status in (SettlementStatus.DECLINED, SettlementStatus.EXPIRED) else None,
        verification_url=f"https://bank.example/3ds/{i}/" + "v" * 500
        if status == SettlementStatus.REQUIRES_ACTION
        else None,
    )
    return replace(st, **changes)


def batch(*settlements: SettlementRecord, **changes: Any) -> BatchRecord:
    record = BatchRecord(
        id=ALERT_ID,
        alert_id=ALERT_ID,
        account_id="cus_A",
        account_name=LONG_NAME,
        user_id=ADMIN,
        card_label=HOSTILE_CARD,
        payment_method_id="pm_0",
        make_default=True,
        settlements=settlements,
        still_owed=invoice_lines(60),
        alert_channel=CHANNEL,
        settled_at=NOW,
    )
    return replace(record, **changes)


def many(n: int, status: SettlementStatus) -> tuple[SettlementRecord, ...]:
    return tuple(settlement(i, status) for i in range(n))


def one(minor: int, currency: str, status: SettlementStatus = SettlementStatus.PENDING) -> BatchRecord:
    return batch(settlement(0, status, amount_minor=minor, currency=currency), card_label=LONG_CARD, still_owed=())


S = SettlementStatus
DECLINED = (S.DECLINED, S.EXPIRED)
MIXED = tuple(settlement(i, (S.SUCCEEDED, S.DECLINED, S.EXPIRED, S.REQUIRES_ACTION)[i % 4]) for i in range(60))
# every step of a confirmation, with the amounts the Charge button must name or leave out
BATCHES: dict[str, BatchRecord] = {
    "1 invoice, €1.00": one(100, "EUR"),
    "1 invoice, US$ 12,345.67": one(MID, "USD"),
    "1 invoice, US$ 123,456,789.00": one(HUGE, "USD"),
    "1 invoice, CHF 123,456,789.00": one(HUGE, "CHF"),
    "1 invoice, BHD 12,345,678.900": one(HUGE, "BHD"),
    "60 invoices in 6 currencies, pending": batch(*many(60, S.PENDING)),
    "60 invoices, charging": batch(*many(60, S.CHARGING)),
    "60 invoices, paid": batch(*many(60, S.SUCCEEDED), still_owed=()),
    "60 invoices, declined": batch(*(settlement(i, DECLINED[i % 2]) for i in range(60))),
    "60 invoices, each way": batch(*MIXED),
    "1 invoice, verification": one(HUGE, "USD", S.REQUIRES_ACTION),
    "3 invoices, verification": batch(*many(3, S.REQUIRES_ACTION)),
    "3 invoices, one verification for all": batch(
        *(replace(st, verification_url="https://bank.example/3ds/all") for st in many(3, S.REQUIRES_ACTION))
    ),
    "60 invoices, verification": batch(*many(60, S.REQUIRES_ACTION)),
    "1 invoice, paid, no channel": replace(
        one(HUGE, "CHF", S.SUCCEEDED), alert_channel=None, make_default=False, card_label=HOSTILE_CARD
    ),
    "1 invoice, held elsewhere": batch(settlement(0, S.DECLINED, reason="held_elsewhere")),
    "1 invoice, abandoned": batch(settlement(0, S.EXPIRED, reason="abandoned")),
}


def digest_card(count: int, largest: tuple[AlertCard, ...]) -> DigestCard:
    return DigestCard(
        digest_id=ALERT_ID,
        channel=CHANNEL,
        opened_at=DECLINED_AT,
        count=count,
        open_count=count * 3 // 4,
        settled_count=count // 6,
        closed_count=count // 12,
        owed=tuple((c, HUGE * 60) for c in CURRENCIES),
        reasons=tuple((r, 60 - i) for i, r in enumerate(REASONS)),
        largest=largest,
    )


def numbered(cards: list[AlertCard]) -> list[AlertCard]:
    """Balances of a list each have an alert of their own."""
    return [replace(card, alert_id=ALERT_ID - i) for i, card in enumerate(cards)]


def page_of_cards() -> list[AlertCard]:
    """A page of a digest's list: every state, every kind of card."""
    return numbered([full_card(s) if n else small_card(s) for n in (1, 0) for s in AlertState])


OPEN_STATES = (AlertState.OPEN, AlertState.SETTLING, AlertState.VERIFICATION_PENDING)


def links(n: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"in_{'9' * 100}{i}", "https://pay.example.com/i/" + "x" * 400 + str(i)) for i in range(n))


def retry_form(n: int) -> RetryForm:
    cards = tuple(methods(n))
    return RetryForm(full_card(AlertState.OPEN), cards, cards[0].id if cards else None, "0123456789ab")


def month_report() -> MonthReport:
    rows = []
    for currency in CURRENCIES:
        row = CurrencyReport(currency, declined_count=10**6, declined_minor=HUGE)
        for path in PATHS:
            row.paths[path] = PathFigures(10**5, HUGE // 8, 123456.7)
        rows.append(row)
    return MonthReport("2026-11", rows)


def home_summary(**changes: Any) -> HomeSummary:
    summary = HomeSummary(
        user_id=ADMIN,
        balances=tuple(numbered([full_card(OPEN_STATES[i % 3], 60) for i in range(15)])),
        count=60,
        totals=tuple((c, HUGE * 60) for c in CURRENCIES),
        others_open=4000,
        every_account=True,
        recent=tuple(
            replace(b, settled_at=NOW) for b in (BATCHES["60 invoices, paid"], BATCHES["60 invoices, each way"])
        )
        * 4,
    )
    return replace(summary, **changes)


def warnings() -> dict[str, WarningCard]:
    """A card warning for every reason, open and resolved in every way there is."""
    out = {}
    ways = ("replaced", "declined") if "resolved_how" in {f.name for f in fields(WarningCard)} else ()
    for reason in ("expires", "declined_before", "a_reason_from_2030"):
        out[reason] = warning(reason, resolved=False)
        out[f"{reason}, resolved"] = warning(reason, resolved=True)
        for how in ways:
            out[f"{reason}, resolved: {how}"] = replace(warning(reason, resolved=True), resolved_how=how)
    return out


def warning(reason: str, resolved: bool) -> WarningCard:
    return WarningCard(
        id=ALERT_ID,
        account_id="cus_A",
        account_name=LONG_NAME,
        language="en",
        renews_on=date(2026, 12, 31),
        reason=reason,
        card_label=HOSTILE_CARD,
        amount_minor=HUGE,
        currency="CHF",
        resolved_at=NOW if resolved else None,
    )


# --- Every builder, every state ------------------------------------------------------------------------
Built = str | list[Block] | View | dict[str, Any]


@dataclass(frozen=True)
class Build:
    """One builder called with one set of inputs."""

    name: str
    fn: Callable[..., Built]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Built:
        return self.fn(*self.args, **self.kwargs)


def b(name: str, fn: Callable[..., Built], *args: Any, **kwargs: Any) -> Build:
    return Build(f"{fn.__name__}({name})", fn, args, kwargs)


def reply_details() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every thread reply: its name here, its kind, its detail."""
    everyone = list(USERS) * 12
    ids = [invoice_id(i) for i in range(60)]
    amounts = {"amount": "US$ 123,456,789.00 + CHF 123,456,789.00 + " * 6, "invoices": ids}
    return {
        "balance_grew": ("balance_grew", {"invoice_id": ids[0]}),
        "declined_again": ("declined_again", {"invoice_id": ids[1]}),
        "reminder": ("reminder", {"mention": everyone, "open_for": 400 * 86400}),
        "reminder, no one": ("reminder", {"open_for": 61}),
        "escalated": ("escalated", {"mention": everyone, "open_for": 40 * 86400}),
        "escalated_elsewhere": (
            "escalated_elsewhere",
            {"mention": everyone, "open_for": 3600, "alert_channel": CHANNEL},
        ),
        "escalated_elsewhere, no channel": ("escalated_elsewhere", {"open_for": 3600}),
        "assigned": ("assigned", {"assignee": OTHER, "by": BAD_ID}),
        "settled": ("settled", {"user_id": ADMIN, "card": HOSTILE_CARD, **amounts}),
        "settled, a part": ("settled", {"user_id": OTHER, "card": HOSTILE_CARD, **amounts, "still_owed": "€1.00" * 60}),
        "asked to pay": ("asked", {"ask": "pay", "by": BAD_ID}),
        "asked for a card": ("asked", {"ask": "card", "by": ADMIN}),
        "retry scheduled": ("retry_scheduled", {"by": ADMIN, "card": HOSTILE_CARD * 5, "due": NOW.isoformat()}),
        "retry scheduled, a bad date": ("retry_scheduled", {"by": BAD_ID, "card": "", "due": HOSTILE}),
        "retry cancelled": ("retry_cancelled", {"by": OTHER, "due": NOW.isoformat()}),
        **{
            f"retry done, {outcome}": ("retry_done", {"outcome": outcome, "by": OTHER, "card": HOSTILE_CARD})
            for outcome in (
                "declined:insufficient_funds",
                f"declined:{HOSTILE}",
                "verification",
                "unknown",
                "not_allowed",
                "balance_over",
                "busy",
                "card_unusable",
                "provider",
                HOSTILE,
            )
        },
        **{
            kind: (kind, {"requester": ADMIN, "by": BAD_ID})
            for kind in ("approval_approved", "approval_rejected", "approval_expired")
        },
        "a kind Settle does not know yet": (HOSTILE * 3, {}),
    }


def alert_cards() -> list[tuple[str, AlertCard]]:
    return [
        (f"{s}, {n}", card) for s in AlertState for n, card in (("60 invoices", full_card(s)), ("1", small_card(s)))
    ]


def builds() -> list[Build]:
    """Every builder's output for every kind of input, in the language in effect."""
    am, bl, cw, dg, fu, hm, sm = alert_message, balance_list, card_warning, digest, follow_up, home, settle_modal
    out: list[Build] = []
    for name, card in alert_cards():
        out += [b(name, am.alert_blocks, card), b(name, am.alert_text, card)]
        for what, (kind, detail) in reply_details().items():
            for in_digest in (False, True):
                where = f"{name}, {what}" + (", in a digest" if in_digest else "")
                out.append(b(where, am.reply_text, card, kind, {**detail, "in_digest": in_digest}))
    cards = numbered([card for _name, card in alert_cards() if card.state in OPEN_STATES] * 10)
    out += [
        b("60 balances", bl.balance_blocks, cards, bl.balances_text(60), 60),
        b("15 balances, a long intro", bl.balance_blocks, cards[:15], escape(LONG_NAME)),  # callers escape it
        b("a hostile query", bl.which_one, HOSTILE * 4, cards),
        b("", bl.help_blocks),
        *(b(str(n), bl.balances_text, n) for n in (0, 1, 60, 10**9)),
    ]
    for name, w in warnings().items():
        out += [b(name, cw.warning_blocks, w), b(name, cw.warning_text, w)]
    largest = tuple(numbered([full_card(OPEN_STATES[i % 3]) for i in range(5)]))
    storms = {"60 balances": digest_card(60, largest), "1 balance, over": digest_card(1, ())}
    for name, d in storms.items():
        out += [b(name, dg.digest_blocks, d), b(name, dg.digest_text, d)]
        for kind in ("digest_escalated", "digest_reminder"):
            for mention in ((), list(USERS) * 10):
                for alerts in ([1], list(range(60))):
                    detail = {"mention": mention, "open_for": 400 * 86400, "alerts": alerts}
                    who = "mentions" if mention else "no one"
                    out.append(b(f"{name}, {kind}, {who}, {len(alerts)}", dg.digest_reply, d, kind, detail))
    page = page_of_cards()
    out += [
        b("page 1 of 6, a note", dg.list_view, storms["60 balances"], page, 0, 6, escape(LONG_NAME)),
        b("page 4 of 6", dg.list_view, storms["60 balances"], page, 3, 6),
        b("page 6 of 6", dg.list_view, storms["60 balances"], page[:1], 5, 6),
        b("page 1 of 1", dg.list_view, storms["1 balance, over"], page[:1], 0, 1),
        b("", fu.snooze_view, ALERT_ID),
        *(
            b(f"{how}, 60 invoices", fu.end_view, ALERT_ID, how, full_card(AlertState.OPEN), "0123456789ab")
            for how in fu.END_TITLES
        ),
        *(
            b(f"{how}, 1 invoice", fu.end_view, ALERT_ID, how, small_card(AlertState.OPEN), "0123456789ab")
            for how in fu.END_TITLES
        ),
        b("15 of 60, every account", hm.home_view, home_summary()),
        b("15 of 60, a month by every path", hm.home_view, home_summary(month=month_report())),
        *(
            b(f"{ask}, {n} links", ns.ask_view, ALERT_ID, ask, AskLinks(full_card(AlertState.OPEN), links(n)))
            for ask in ("pay", "card")
            for n in (1, 60)
        ),
        b("12 cards", ns.retry_view, ALERT_ID, retry_form(12)),
        *(b(name, ap.approval_blocks, request, buttons=True) for name, request in approvals().items()),
        *(
            b(
                f"{n} of 4000",
                fn,
                MorningSummary(
                    ADMIN,
                    tuple(numbered([full_card(OPEN_STATES[i % 3]) for i in range(n)])),
                    4000,
                    tuple((c, HUGE * 60) for c in CURRENCIES),
                    frozenset({ALERT_ID}),
                ),
            )
            for fn in (mo.morning_blocks, mo.morning_text)
            for n in (1, 15)
        ),
        *(
            b(f"{state}, {kind}, {n} invoices", fn, notice(state, kind, n))
            for fn in (cn.notice_blocks, cn.notice_text)
            for state in AlertState
            for kind in ("authenticate", "funds", "hard", "expired", "other")
            for n in (0, 1, 60)
        ),
        *(
            b(f"{name}, {'full' if full else 'restricted'}", uf.unfurl_blocks, Unfurl(card, invoice, full), now=NOW)
            for name, card in alert_cards()
            for full in (True, False)
            for invoice in (invoice_id(0), None)
        ),
        *(b(name, ap.ApprovalMessage().text, request) for name, request in approvals().items()),
        b(
            "15 of 60, 10 requests waiting",
            hm.home_view,
            home_summary(waiting=tuple(approval("pending", kind) for kind in ("settle", "retry", "paid") * 4)[:10]),
        ),
        b("no card, changed", ns.retry_view, ALERT_ID, retry_form(0), changed=True),
        b("1 card, small", ns.retry_view, ALERT_ID, replace(retry_form(1), card=small_card(AlertState.OPEN))),
        b("nothing", hm.home_view, home_summary(balances=(), count=0, totals=(), others_open=0, recent=())),
        b("a billing admin", hm.home_view, home_summary(every_account=False, others_open=1)),
        b("nobody's", hm.home_view, home_summary(every_account=False, balances=(), count=0, totals=())),
        b("settle balance, long text", sm.info_view, sm.MODAL_TITLE, escape(LONG_NAME)),
        b("", sm.loading_view),
        b("", sm.checking_view, EXTERNAL),
        b("", sm.charging_view, EXTERNAL),
    ]
    contexts = {
        "1 invoice, 3 cards": context(1, 3),
        "10 invoices, 10 cards": context(10, 10),
        "60 invoices, 12 cards": context(60, 12),
        "2 invoices, no card, no add link": context(2, 0, add_method_url=None),
        "1 invoice, no card label": context(1, 2, alert=small_card(AlertState.OPEN)),
    }
    for name, ctx in contexts.items():
        out.append(b(name, sm.pick_view, ctx))
        for failed in ("60 invoices, each way", "60 invoices, declined", "1 invoice, held elsewhere"):
            out.append(b(f"{name}, after {failed}", sm.pick_view, ctx, failed=BATCHES[failed]))
    for name, record in BATCHES.items():
        out += [
            b(name, sm.confirm_view, record),
            b(name, sm.processing_view, record),
            b(name, sm.verify_view, record),
            b(f"{name}, not yet", sm.verify_view, record, not_yet=True),
            b(name, sm.paid_view, record),
            b(name, sm.outcome_text, record),
            b(name, sm.outcome_view, record, None),
            b(f"{name}, then the card choice", sm.outcome_view, record, contexts["10 invoices, 10 cards"]),
            b(name, sm.info_view, sm.MODAL_TITLE, sm.outcome_lines(record) or "-"),
        ]
    return out


# --- The checks ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    builder: str
    field: str
    problem: str
    value: str
    limit: int | None = None

    def __str__(self) -> str:
        limit = f"Slack's limit {self.limit}" if self.limit is not None else ""
        if not self.value:
            return f"{self.builder} · {self.field}: {self.problem}" + (f" ({limit})" if limit else "")
        shown = self.value if len(self.value) <= 160 else self.value[:110] + " […] " + self.value[-40:]
        size = f"{len(self.value)} chars" + (f", {limit}" if limit else "")
        return f"{self.builder} · {self.field}: {self.problem} ({size}): {shown!r}"


def _placeholders_to_pattern(text: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]*\}", text)
    return re.compile("(?s)" + ".+?".join(re.escape(p) for p in parts))


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every message id (singular and plural) with its text in `lang` (English: the ids themselves, from
    any catalogue)."""
    other = lang if lang != DEFAULT else next(x for x in available() if x != DEFAULT)
    with (CATALOGUES / other / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        cat = read_po(f)
    out: dict[str, str] = {}
    for message in cat:
        if not message.id:
            continue
        ids = [str(x) for x in message.id] if isinstance(message.id, tuple | list) else [str(message.id)]
        strs = [str(x) for x in message.string] if isinstance(message.string, tuple | list) else [str(message.string)]
        for i, msgid in enumerate(ids):
            text = strs[min(i, len(strs) - 1)] if lang != DEFAULT else msgid
            out[msgid] = text or msgid
    return out


@cache
def ellipsis_labels(lang: str) -> tuple[re.Pattern[str], ...]:
    """The catalogue's own texts that end in "…" ("Assign to…"): not clipped."""
    return tuple(_placeholders_to_pattern(t) for t in catalogue(lang).values() if t.endswith(CLIP))


PLACEHOLDER_RE = re.compile(r"\{[a-z_]*\}")


@cache
def templates(lang: str) -> tuple[tuple[str, ...], ...]:
    """The literal parts of each catalogue text with outside data in it ("✅ Settled: {name}" is
    ("✅ Settled: ", "")). Only texts with a word of their own (three letters or more) count."""
    out = []
    for text in catalogue(lang).values():
        parts = tuple(PLACEHOLDER_RE.split(text))
        if len(parts) > 1 and re.search(r"[^\W\d_]{3}", "".join(parts)):
            out.append(tuple(p for p in parts if p))
    return tuple(out)


def _ends_in_data(parts: tuple[str, ...], cut: str) -> bool:
    """Every literal part of a text is in `cut`, in order, and outside data follows the last: what
    was shortened is that data ("Verify €129.00 · Business Stan"), not the text's words."""
    at = 0
    for part in parts:
        found = cut.find(part, at)
        if found == -1:
            return False
        at = found + len(part)
    return at < len(cut)


def whole(value: str, lang: str) -> bool:
    """A label ending in "…" is whole when the catalogue's own text ends so ("Assign to…"), or when
    only outside text at its end was shortened: every word of the catalogue's text there, and no
    amount cut ("⚠️ Payment declined: Acme Hold…", "Verify €129.00 · Business Stan…")."""
    if any(p.fullmatch(value) for p in ellipsis_labels(lang)):
        return True
    cut = value[: -len(CLIP)].rstrip()
    if CUT_AMOUNT.search(cut):
        return False
    return any(_ends_in_data(parts, cut) for parts in templates(lang))


# an amount cut short: "US$ 123.45", "CHF 1,2" at the end of a clipped label
CUT_AMOUNT = re.compile(r"(?:[$€£¥]|\b[A-Z]{2,3}\$?)[\s\xa0]?[\d.,]*$")


@cache
def english_labels(lang: str) -> frozenset[str]:
    """English texts that `lang` says otherwise: a label equal to one was left untranslated."""
    if lang == DEFAULT:
        return frozenset()
    return frozenset(msgid for msgid, text in catalogue(lang).items() if text != msgid and "{" not in msgid)


@cache
def untranslated_fallbacks(lang: str) -> tuple[str, ...]:
    """mrkdwn.py's words for a missing user or channel, when `lang` says them in English too."""
    with use(DEFAULT):
        english = (mrkdwn.user(None), mrkdwn.channel(None))
    if lang == DEFAULT:
        return ()
    with use(lang):
        said = (mrkdwn.user(None), mrkdwn.channel(None))
    return tuple(e for e, s in zip(english, said, strict=True) if e == s)


@cache
def english_templates(lang: str) -> tuple[re.Pattern[str], ...]:
    """English texts with outside data in them ("Verify {id}") that `lang` says otherwise."""
    if lang == DEFAULT:
        return ()
    return tuple(
        _placeholders_to_pattern(msgid)
        for msgid, text in catalogue(lang).items()
        if text != msgid and "{" in msgid and re.search(r"[^\W\d_]{3}", PLACEHOLDER_RE.sub("", msgid))
    )


def _no_validation(self: JsonObject) -> None:
    return None


# the ids of the blocks whose options are outside data (an invoice, a card's label) rather than labels
DATA_OPTIONS: dict[str, tuple[str, ...]] = {BlockId.INVOICES: ("text", "description"), BlockId.METHOD: ("text",)}


class Checker:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.problems: list[Problem] = []
        self.builder = ""

    def add(self, where: str, problem: str, value: str, limit: int | None = None) -> None:
        self.problems.append(Problem(self.builder, where, problem, value, limit))

    # each builder's output
    def check(self, build: Build) -> None:
        self.builder = build.name
        try:
            built = build()
        except Exception as exc:
            self.add("(the builder)", f"raised {type(exc).__name__}: {exc}", "")
            return
        if isinstance(built, str):
            self.message_text("text", built)
        elif isinstance(built, dict):
            try:
                view = View(**built)
            except Exception as exc:
                self.add("(dict view)", f"View(**d) raised {type(exc).__name__}: {exc}", str(built)[:200])
                return
            self.view(view)
        elif isinstance(built, View):
            self.view(built)
        else:
            self.message_blocks(built)

    def view(self, view: View) -> None:
        try:
            view.to_dict()  # slack_sdk's validation of the view and all it holds
        except Exception as exc:
            self.add("(view)", f"slack_sdk: {exc}", "")
        d = self.raw(view)
        for key in ("title", "submit", "close"):
            if key in d:
                self.label(key, d[key].get("text", ""), TITLE)
        if d.get("type") == "modal" and "title" not in d:
            self.add("title", "a modal needs a title", "")
        self.length("private_metadata", d.get("private_metadata", ""), PRIVATE_METADATA)
        self.length("external_id", d.get("external_id", ""), EXTERNAL_ID)
        self.length("callback_id", d.get("callback_id", ""), ID)
        self.blocks(d.get("blocks", []), VIEW_BLOCKS)

    def message_blocks(self, blocks: list[Block]) -> None:
        for i, block in enumerate(blocks):
            try:
                block.to_dict()  # slack_sdk's validation of the block and all it holds
            except Exception as exc:
                self.add(f"blocks[{i}] ({getattr(block, 'block_id', None) or block.type})", f"slack_sdk: {exc}", "")
        self.blocks([self.raw(block) for block in blocks], MESSAGE_BLOCKS)

    @staticmethod
    def raw(obj: JsonObject) -> dict[str, Any]:
        """The JSON Slack would get, without stopping at the first invalid field."""
        with mock.patch.object(JsonObject, "validate_json", _no_validation):
            return obj.to_dict()

    # fields
    def length(self, where: str, value: str, limit: int) -> None:
        if len(value) > limit:
            self.add(where, "too long", value, limit)

    def plain(self, where: str, text: dict[str, Any] | str | None, limit: int) -> str:
        value = text if isinstance(text, str) else (text or {}).get("text", "")
        if not value.strip():
            self.add(where, "empty text (Slack needs at least one character)", value, limit)
        self.length(where, value, limit)
        return value

    def label(self, where: str, value: str, limit: int) -> None:
        """A label built from the catalogue: within the limit, whole, and in the reader's language."""
        self.plain(where, value, limit)
        if self.english(value):
            self.add(where, f"left in English in {self.lang}", value)
        elif value.endswith(CLIP) and not whole(value, self.lang):
            self.add(where, "clipped label: chosen to fit, not cut", value, limit)

    def english(self, value: str) -> bool:
        if self.lang == DEFAULT:
            return False
        if value in english_labels(self.lang) or any(p.fullmatch(value) for p in english_templates(self.lang)):
            return True
        return value.endswith(CLIP) and whole(value, DEFAULT) and not whole(value, self.lang)

    def mrkdwn(self, where: str, value: str, limit: int) -> None:
        self.plain(where, value, limit)
        self.markup(where, value)

    def markup(self, where: str, value: str) -> None:
        """Outside text stays text; a shortened text ends in neither half an entity nor half a token."""
        raw = [r for r in RAW_MARKUP if r in value]
        if raw:
            at = value.find(raw[0])
            self.add(where, f"outside text became markup: {', '.join(raw)} (…{value[max(0, at - 60) : at]!r})", value)
            return
        half_token = re.search(r"<[^<>]*(?=<|$)", value)
        if half_token:
            self.add(where, f"half a <…> token (cut by a clip?): {half_token.group()[:40]!r}", value)
        half_entity = re.search(r"&(?!amp;|lt;|gt;)[a-z]*", value)
        if half_entity:
            self.add(where, f"a bare or half entity (cut by a clip?): {half_entity.group()!r}", value)
        for word in untranslated_fallbacks(self.lang):
            if re.search(rf"(?<![\w@]){re.escape(word)}(?!\w)", value):
                self.add(where, f"left in English in {self.lang}: {word!r}", value)

    def message_text(self, where: str, value: str) -> None:
        if not value.strip():
            self.add(where, "empty message text", value, MESSAGE_TEXT)
        self.length(where, value, MESSAGE_TEXT)
        self.markup(where, value)

    def text_object(self, where: str, text: dict[str, Any], limit: int) -> None:
        if text.get("type") == "mrkdwn":
            self.mrkdwn(where, text.get("text", ""), limit)
        else:
            self.plain(where, text, limit)

    # blocks and elements
    def blocks(self, blocks: list[dict[str, Any]], most: int) -> None:
        if len(blocks) > most:
            self.add("blocks", f"{len(blocks)} blocks", "", most)
        seen: set[str] = set()
        for i, block in enumerate(blocks):
            block_id = block.get("block_id")
            where = f"blocks[{i}]" + (f" ({block_id})" if block_id else "")
            if block_id:
                self.length(f"{where}.block_id", block_id, ID)
                if block_id in seen:
                    self.add(f"{where}.block_id", "block_id used twice", block_id)
                seen.add(block_id)
            self.block(where, block)

    def block(self, where: str, block: dict[str, Any]) -> None:
        kind = block.get("type")
        block_id = str(block.get("block_id") or "")
        if kind == "header":
            self.label(f"{where}.text", block.get("text", {}).get("text", ""), HEADER)
        elif kind == "section":
            if "text" in block:
                self.text_object(f"{where}.text", block["text"], SECTION)
            fields = block.get("fields", [])
            if len(fields) > SECTION_FIELDS:
                self.add(f"{where}.fields", f"{len(fields)} fields", "", SECTION_FIELDS)
            for j, f in enumerate(fields):
                self.text_object(f"{where}.fields[{j}]", f, FIELD)
            if "accessory" in block:
                self.element(f"{where}.accessory", block["accessory"], block_id)
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= CONTEXT_ELEMENTS:
                self.add(f"{where}.elements", f"{len(elements)} elements", "", CONTEXT_ELEMENTS)
            for j, e in enumerate(elements):
                if e.get("type") in ("mrkdwn", "plain_text"):
                    self.text_object(f"{where}.elements[{j}]", e, CONTEXT)
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= ACTIONS_ELEMENTS:
                self.add(f"{where}.elements", f"{len(elements)} elements", "", ACTIONS_ELEMENTS)
            action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
            for a in {a for a in action_ids if action_ids.count(a) > 1}:
                self.add(f"{where}.elements", "action_id used twice in one block", str(a))
            for j, e in enumerate(elements):
                self.element(f"{where}.elements[{j}]", e, block_id)
        elif kind == "input":
            self.label(f"{where}.label", block.get("label", {}).get("text", ""), INPUT_LABEL)
            self.element(f"{where}.element", block.get("element", {}), block_id)

    def element(self, where: str, e: dict[str, Any], block_id: str) -> None:
        kind = e.get("type")
        self.length(f"{where}.action_id", e.get("action_id", ""), ID)
        if "placeholder" in e:
            self.label(f"{where}.placeholder", e["placeholder"].get("text", ""), PLACEHOLDER)
        if kind == "button":
            self.label(f"{where}.text", e.get("text", {}).get("text", ""), BUTTON)
            self.length(f"{where}.value", e.get("value", ""), BUTTON_VALUE)
            self.length(f"{where}.url", e.get("url", ""), URL)
        options = e.get("options", [])
        most = {
            "overflow": OVERFLOW_OPTIONS,
            "checkboxes": CHOICE_OPTIONS,
            "radio_buttons": CHOICE_OPTIONS,
            "static_select": SELECT_OPTIONS,
            "multi_static_select": SELECT_OPTIONS,
        }.get(str(kind))
        if most is not None and not 1 <= len(options) <= most:
            self.add(f"{where}.options", f"{len(options)} options in a {kind}", "", most)
        data = DATA_OPTIONS.get(block_id, ())
        for j, option in enumerate(options):
            self.option(f"{where}.options[{j}]", option, data)
        initial = [e["initial_option"]] if "initial_option" in e else e.get("initial_options", [])
        for option in initial:
            if option not in options:
                self.add(f"{where}.initial_option", "not one of the options", str(option.get("value")))

    def option(self, where: str, option: dict[str, Any], data: tuple[str, ...]) -> None:
        self.length(f"{where}.value", option.get("value", ""), OPTION_VALUE)
        for key, limit in (("text", OPTION_TEXT), ("description", OPTION_DESCRIPTION)):
            if key not in option:
                continue
            if key in data:  # outside text: clipped to fit is right
                self.plain(f"{where}.{key}", option[key], limit)
            else:
                self.label(f"{where}.{key}", option[key].get("text", ""), limit)


def problems_in(lang: str, selected: list[Build] | None = None) -> list[Problem]:
    checker = Checker(lang)
    with time_machine.travel(NOW, tick=False), use(lang):
        for build in selected if selected is not None else builds():
            checker.check(build)
    return checker.problems


def report(lang: str, problems: list[Problem]) -> str:
    return f"{len(problems)} problems in {lang}:\n" + "\n".join(f"  {p}" for p in problems)


@pytest.mark.parametrize("lang", available())
def test_every_view_fits_slack_in_every_language(lang: str) -> None:
    problems = problems_in(lang)
    assert problems == [], report(lang, problems)


BUILDER_MODULES = (alert_message, ap, balance_list, card_warning, digest, follow_up, home, ns, settle_modal, uf, cn, mo)
VIEW_TYPES = {"View", "list[Block]", "dict[str, Any]"}
FRAGMENTS = {
    "attempt_text",
    "owed_text",
    "outcome_text",
    "unfurl",
}  # unfurl: unfurl_blocks as chat.unfurl takes it  # parts of a message, checked inside it


def test_every_builder_is_built() -> None:
    """A new builder (a function returning blocks or a view, or a message's text) is built above."""
    built = {build.fn.__name__ for build in builds()}
    wanted = {
        name
        for module in BUILDER_MODULES
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__
        and not name.startswith("_")
        and (fn.__annotations__.get("return") in VIEW_TYPES or name.endswith(("_text", "_reply")))
    } - FRAGMENTS
    assert wanted - built == set()


# --- The checks catch the bugs they are here for -------------------------------------------------------
class _Overridden(gettext.NullTranslations):
    def __init__(self, base: gettext.NullTranslations, texts: dict[str, str]) -> None:
        super().__init__()
        self.base, self.texts = base, texts

    def gettext(self, message: str) -> str:
        return self.texts.get(message) or self.base.gettext(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.base.ngettext(msgid1, msgid2, n)


@pytest.fixture
def dutch_as_it_was(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Dutch catalogue with two translations it once had."""
    before = bot.i18n._translations
    texts = {"Snooze this balance": "Dit saldo laten sluimeren", "Charge {amount}": "{amount} afschrijven"}

    def translations(lang: str) -> gettext.NullTranslations:
        return _Overridden(before(lang), texts) if lang == "nl" else before(lang)

    monkeypatch.setattr(bot.i18n, "_translations", translations)
    yield


@pytest.mark.usefixtures("dutch_as_it_was")
def test_a_dutch_title_of_25_characters_is_caught() -> None:
    found = problems_in("nl", [b("", follow_up.snooze_view, ALERT_ID)])
    assert any(p.field == "title" and p.value == "Dit saldo laten sluimeren" and p.limit == TITLE for p in found), found
    assert any(p.field == "(view)" and "title must be between 1 and 24" in p.problem for p in found), found


@pytest.mark.usefixtures("dutch_as_it_was")
def test_a_clipped_charge_button_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def clipped(amount: str) -> str:  # the Charge button as it was: cut to fit
        return clip(_("Charge {amount}").format(amount=amount), TITLE)

    monkeypatch.setattr(settle_modal, "charge_label", clipped)
    found = problems_in("nl", [b("", settle_modal.confirm_view, BATCHES["1 invoice, US$ 12,345.67"])])
    assert [(p.field, p.problem, p.value.replace("\xa0", " ")) for p in found] == [
        ("submit", "clipped label: chosen to fit, not cut", "US$ 12.345,67 afschrijv…")
    ], found
