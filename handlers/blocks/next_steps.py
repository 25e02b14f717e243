"""Block Kit for the next steps a decline's reason offers beside settling: sending the customer the
payment page or the add-card page, and retrying on a date."""

from __future__ import annotations

from datetime import UTC, datetime, time

from slack_sdk.models.blocks import (
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.i18n import N_, _, current
from bot.settlement.asking import Ask, AskLinks
from bot.settlement.retries import RetryForm, suggested_days
from handlers.blocks.mrkdwn import CONTEXT, SECTION, clip, code, safe, slack_date
from handlers.support import refs
from handlers.support.ids import ActionId, BlockId, CallbackId

RETRY_AT = time(9, 0, tzinfo=UTC)  # a retry on a date is charged that morning (UTC)
ASK_TITLES: dict[str, str] = {"pay": N_("Send payment page"), "card": N_("Ask for a new card")}
SHOWN_LINKS = 5


def ask_view(alert_id: int, ask: Ask, asked: AskLinks) -> View:
    """The links to send the customer, to copy; "Mark as sent" records that they were sent."""
    card = asked.card
    name = safe(card.account_name, 300)
    if ask == "pay":
        intro = _(
            "The bank wants the cardholder to approve this payment, and that is *{name}*, not you. Send them "
            "the payment page: they pay *{owed}* there and approve it with their bank."
        ).format(name=name, owed=card.owed)
    else:
        intro = _(
            "This card cannot be charged again. Send *{name}* the page where they add a new card: it "
            "becomes the card for their renewals. Then settle *{owed}* with it."
        ).format(name=name, owed=card.owed)
    how = _(
        "The billing system does not email this page for automatic renewals: copy the link into your "
        "email or chat to the customer, then press *Mark as sent* so the alert says you did."
    )
    blocks: list[SectionBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=clip(intro, SECTION))),
    ]
    for invoice_id, url in asked.links[:SHOWN_LINKS]:
        label = _("Invoice {invoice}").format(invoice=code(invoice_id)) if invoice_id else _("Add-card page")
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=clip(f"{label}\n```{url}```", SECTION)),
                accessory=ButtonElement(
                    text=PlainTextObject(text=_("Open page")), action_id=ActionId.VIEW_INVOICE, url=url
                ),
            )
        )
    if len(asked.links) > SHOWN_LINKS:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=_("…and {n} more invoices.").format(n=len(asked.links) - SHOWN_LINKS))
                ]
            )
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(how, CONTEXT))]))
    return View(
        type="modal",
        callback_id=CallbackId.ASK,
        private_metadata=refs.encode("alert", alert_id, ask, lang=current()),
        title=PlainTextObject(text=_(ASK_TITLES[ask])),
        submit=PlainTextObject(text=_("Mark as sent")),
        close=PlainTextObject(text=_("Close")),
        blocks=blocks,
    )


def retry_view(alert_id: int, form: RetryForm, *, changed: bool = False, now: datetime | None = None) -> View:
    """Pick a day (the next 1st or 15th by default) and a card: charged once that morning."""
    card = form.card
    days = suggested_days(now or datetime.now(UTC))
    intro = _(
        "Settle charges *{owed}* of *{name}* once, on the morning of the day you pick (09:00 UTC), with the "
        "card you choose and without the cardholder present. Until then, *Cancel retry* on the alert stops it."
    ).format(owed=card.owed, name=safe(card.account_name, 300))
    hint = _("Paydays are often the 1st and the 15th: {days}.").format(
        days=", ".join(slack_date(datetime.combine(d.date(), RETRY_AT)) for d in days)
    )
    options = [Option(text=PlainTextObject(text=clip(m.card.label, 75)), value=m.id) for m in form.methods[:100]]
    initial = next((o for o in options if o.value == form.suggested), options[0] if options else None)
    blocks: list[SectionBlock | ContextBlock | InputBlock] = []
    if changed:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_("⚠️ *The balance changed since you opened this:* check it again."))
            )
        )
    blocks += [
        SectionBlock(text=MarkdownTextObject(text=clip(intro, SECTION))),
        InputBlock(
            block_id=BlockId.RETRY_DATE,
            label=PlainTextObject(text=_("Retry on")),
            element=DatePickerElement(action_id=ActionId.RETRY_DATE, initial_date=days[0].date().isoformat()),
            hint=PlainTextObject(
                text=clip(_("The next 1st or 15th is suggested; any day within 60 days will do."), 150)
            ),
        ),
        ContextBlock(elements=[MarkdownTextObject(text=clip(hint, CONTEXT))]),
    ]
    if options:
        blocks.append(
            InputBlock(
                block_id=BlockId.RETRY_METHOD,
                label=PlainTextObject(text=_("Card")),
                element=StaticSelectElement(action_id=ActionId.RETRY_METHOD, options=options, initial_option=initial),
            )
        )
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_("*No card can be retried:* ask the customer for a new card first."))
            )
        )
    return View(
        type="modal",
        callback_id=CallbackId.RETRY,
        private_metadata=refs.encode("alert", alert_id, form.shown, lang=current()),
        title=PlainTextObject(text=_("Retry on a date")),
        submit=PlainTextObject(text=_("Schedule retry")) if options else None,
        close=PlainTextObject(text=_("Cancel")),
        blocks=blocks,
    )
