"""Block Kit for the alert's follow-up forms: snoozing until a date."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from slack_sdk.models.blocks import DatePickerElement, InputBlock, MarkdownTextObject, PlainTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.i18n import _, current
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
