"""Block Kit for the alert's follow-up forms: snoozing until a date; ending a balance another way."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from slack_sdk.models.blocks import (
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.i18n import N_, _, current, ngettext
from bot.read.cards import AlertCard
from handlers.blocks.mrkdwn import SECTION, clip, safe
from handlers.support import refs
from handlers.support.ids import ActionId, BlockId, CallbackId

WAKE_AT = time(9, 0, tzinfo=UTC)  # a snooze "until a date" ends that morning (UTC)


def snooze_view(alert_id: int) -> View:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    return View(
        type="modal",
        callback_id=CallbackId.SNOOZE,
        private_metadata=refs.encode("alert", alert_id, lang=current()),
        title=PlainTextObject(text=_("Snooze this balance")),
        submit=PlainTextObject(text=_("Snooze")),
        close=PlainTextObject(text=_("Cancel")),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=_("No reminders or escalation until the morning of the day you pick (09:00 UTC).")
                )
            ),
            InputBlock(
                block_id=BlockId.SNOOZE_DATE,
                label=PlainTextObject(text=_("Snooze until")),
                element=DatePickerElement(action_id=ActionId.SNOOZE_DATE, initial_date=tomorrow.isoformat()),
            ),
        ],
    )


# how each ending is named, in a title (24 characters at most), a button and a sentence
END_TITLES = {"paid": N_("Paid another way"), "voided": N_("Void the balance"), "uncollectible": N_("Write off")}
FINAL = N_("This cannot be undone.")
END_SUBMITS = {"paid": N_("Mark paid"), "voided": N_("Void"), "uncollectible": N_("Write off")}


def end_view(alert_id: int, how: str, card: AlertCard, shown: str, *, changed: bool = False) -> View:
    """The confirmation an ending asks for, with its reason (required: it is audited and shown)."""
    name, owed, n = safe(card.account_name, 500), card.owed, len(card.open_invoices)
    invoices = ngettext("{n} invoice", "{n} invoices", n).format(n=n)
    what = {
        "paid": _(
            "Mark *{owed}* of *{name}* ({invoices}) as paid another way, such as a bank transfer or a cheque. "
            "No card is charged: the billing system records the invoices as paid."
        ),
        "voided": _(
            "Void *{owed}* of *{name}* ({invoices}): the billing system cancels the invoices and nobody pays them."
        ),
        "uncollectible": _(
            "Write off *{owed}* of *{name}* ({invoices}) as uncollectible: the billing system stops asking for "
            "the money."
        ),
    }[how].format(owed=owed, name=name, invoices=invoices)
    return View(
        type="modal",
        callback_id=CallbackId.END,
        # what it shows goes with it: the submit ends these invoices, or asks again
        private_metadata=refs.encode("alert", alert_id, f"{how}.{shown}", lang=current()),
        title=PlainTextObject(text=_(END_TITLES[how])),
        submit=PlainTextObject(text=_(END_SUBMITS[how])),
        close=PlainTextObject(text=_("Cancel")),
        blocks=[
            *(
                [
                    SectionBlock(
                        text=MarkdownTextObject(
                            text=_("⚠️ *The balance changed since you opened this:* check it again.")
                        )
                    )
                ]
                if changed
                else []
            ),
            SectionBlock(text=MarkdownTextObject(text=clip(what + " " + _(FINAL), SECTION))),
            InputBlock(
                block_id=BlockId.END_REASON,
                label=PlainTextObject(text=_("Reason (kept in the audit trail)")),
                element=PlainTextInputElement(action_id=ActionId.END_REASON, multiline=True, max_length=500),
            ),
        ],
    )
