"""Block Kit for the settle modal's steps: pure functions of the read model.

The card choice is the root view; Continue pushes the confirmation onto Slack's view stack, so Back
returns to the choice as it was. The outcome replaces the confirmation; after a decline it is the
choice again, for what is still owed."""

from __future__ import annotations

from functools import cache
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.decline_reasons import explain
from bot.domain.next_steps import extra_step
from bot.domain.records import Invoice, PaymentMethod
from bot.domain.states import SettlementStatus
from bot.i18n import N_, _, current
from bot.read.batches import BatchRecord, BatchStatus, SettlementRecord
from bot.read.cards import total
from bot.read.context import SettleContext
from handlers.blocks.alert_message import invoice_list
from handlers.blocks.mrkdwn import (
    BUTTON,
    MESSAGE_TEXT,
    OPTION_DESCRIPTION,
    OPTION_TEXT,
    SECTION,
    TITLE,
    channel,
    clip,
    code,
    safe,
)
from handlers.support import refs
from handlers.support.ids import ActionId, BlockId, CallbackId

MODAL_TITLE = N_("Settle balance")  # a message id: info_view translates it
RADIO_LIMIT = 10
CHECKBOX_LIMIT = 10


def _md(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION)))


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, 2000))])


def info_view(title: str, text: str) -> View:
    """A closing message: refusals, paid or vanished invoices."""
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        title=clip(_(title), TITLE),
        close=_("Close"),
        blocks=[_md(text)],
    )


@cache
def _loading(language: str) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        title=_(MODAL_TITLE),
        close=_("Cancel"),
        blocks=[_md(_("⏳ Loading the balance and the account's payment methods…"))],
    ).to_dict()


def loading_view() -> dict[str, Any]:
    """Constant per language, validated once: it is sent on every click while the trigger_id is fresh."""
    return dict(_loading(current()))


def _method_option(m: PaymentMethod, ctx: SettleContext, failed: BatchRecord | None) -> Option:
    expiry = f"{m.exp_month:02d}/{m.exp_year}"
    notes = [_("Expired {date}").format(date=expiry) if m.expired() else _("Expires {date}").format(date=expiry)]
    if m.is_default:
        notes.append(_("default"))
    # the reason is said once, above the choice; here only which card it was
    if failed is not None and m.id == failed.payment_method_id:
        notes.append(_("declined just now"))
    elif m.id == ctx.alert.declined_method_id:
        notes.append(_("declined at renewal"))
    if m.id == ctx.preselect_method_id:
        notes.insert(0, _("just added"))
    return Option(
        value=m.id,
        text=PlainTextObject(text=clip(m.card.label, OPTION_TEXT)),
        description=PlainTextObject(text=clip(" · ".join(notes), OPTION_DESCRIPTION)),
    )


def preferred_method(ctx: SettleContext, failed: BatchRecord | None = None) -> PaymentMethod | None:
    """A card just added is chosen; a declined card never is; else the default, else the first."""
    added = next((m for m in ctx.offered if m.id == ctx.preselect_method_id), None)
    if added is not None:
        return added
    avoid = {ctx.alert.declined_method_id, failed.payment_method_id if failed else None}
    usable = [m for m in ctx.offered if m.id not in avoid and not m.expired()]
    return next((m for m in usable if m.is_default), usable[0] if usable else None)


def _invoice_option(invoice: Invoice) -> Option:
    return Option(
        value=invoice.id,
        text=PlainTextObject(text=clip(f"{total([invoice])} · {invoice.id}", OPTION_TEXT)),
        description=PlainTextObject(text=clip(invoice.description, OPTION_DESCRIPTION))
        if invoice.description
        else None,
    )


SHOWN_REASONS = 5  # an outcome names this many reasons, each with this many invoices: it stays readable
SHOWN_PER_REASON = 6


def fitted(template: str, field: str, value: str, limit: int) -> str:
    """`template` with `value` in `field`, the value shortened so that the whole fits `limit`: the
    catalogue's words stay whole (a plain-text label: no escaping)."""
    whole = template.format(**{field: value})
    if len(whole) <= limit:
        return whole
    room = limit - (len(whole) - len(value))
    return template.format(**{field: clip(value, max(room, 2))}) if room >= 2 else clip(whole, limit)


def outcome_lines(batch: BatchRecord) -> str:
    """What happened to each invoice of a confirmation, and what is still owed."""
    lines = []
    paid = batch.with_status(SettlementStatus.SUCCEEDED)
    failed = batch.with_status(SettlementStatus.DECLINED, SettlementStatus.EXPIRED)
    if paid:
        ids = ", ".join(code(st.invoice_id) for st in paid)
        lines.append(
            _("✅ *{amount} paid* with {card} ({ids}).").format(
                amount=total(paid), card=safe(batch.card_label, 100), ids=ids
            )
        )
    by_reason: dict[tuple[str, str | None], list[SettlementRecord]] = {}
    for st in failed:  # one sentence per reason, however many invoices it hit
        by_reason.setdefault((st.card_label, st.reason), []).append(st)
    groups = list(by_reason.values())
    for group in groups[:SHOWN_REASONS]:
        which = _(" and ").join(f"{code(st.invoice_id)} ({st.amount})" for st in group[:SHOWN_PER_REASON])
        if len(group) > SHOWN_PER_REASON:
            which += " " + _("and {n} more").format(n=len(group) - SHOWN_PER_REASON)
        lines.append(f"❌ {which}: {_failure(group[0])}")
    if len(groups) > SHOWN_REASONS:
        rest = sum(len(g) for g in groups[SHOWN_REASONS:])
        lines.append(_("❌ …and {n} more declined for other reasons.").format(n=rest))
    if batch.still_owed and (paid or failed):
        lines.append(_("*Still owed: {amount}.*").format(amount=total(batch.still_owed)))
    return "\n".join(lines)


def _failure(st: SettlementRecord) -> str:
    if st.reason == "held_elsewhere":
        return _("another admin is already settling it; nothing was charged.")
    if st.reason == "abandoned":
        return _("you chose another card before the bank answered.")
    return _("{card} was declined. {why}").format(card=safe(st.card_label, 100), why=explain(st.reason).why)


STEP_NOTES = {
    "send_page": N_(
        "Not the cardholder? The bank wants them to approve it: *Send payment page* on the alert gives you the "
        "customer's link."
    ),
    "retry_on": N_("Short of funds for now? *Retry on a date* on the alert charges the card again on a day you pick."),
    "new_card": N_("This card is done for. *Ask for a new card* on the alert gives you the customer's add-card link."),
    "settle": N_("Settle it with a card."),
}


def pick_view(ctx: SettleContext, *, failed: BatchRecord | None = None) -> View:
    """The balance and the card choice; after a declined attempt (`failed`) it says what happened."""
    alert = ctx.alert
    count = len(ctx.invoices)
    blocks: list[Block] = [
        _md(
            _("*{name}* owes *{amount}* on {n} invoices.").format(
                name=safe(alert.account_name, 500), amount=ctx.amount, n=count
            )
            if count > 1
            else _("*{name}* owes *{amount}* for {invoice}.").format(
                name=safe(alert.account_name, 500), amount=ctx.amount, invoice=_one(ctx.invoices[0])
            )
        ),
    ]
    if failed is not None:
        blocks.append(_md(outcome_lines(failed) + "\n" + _("Pick another card or add a new one.")))
    elif alert.card_label:
        blocks.append(
            _note(
                _("⚠️ The renewal was declined on {card}: {why}").format(
                    card=safe(alert.card_label, 100), why=explain(alert.reason).why
                )
            )
        )
    step = extra_step(alert.reason)
    if step is not None and failed is None:  # what else the reason allows, from the alert's buttons
        blocks.append(_note(_(STEP_NOTES[step])))
    if count > 1:
        options = [_invoice_option(i) for i in ctx.invoices]
        chooser: Any = (
            CheckboxesElement(action_id=ActionId.INVOICE_CHOICE, options=options, initial_options=options)
            if count <= CHECKBOX_LIMIT
            else StaticMultiSelectElement(
                action_id=ActionId.INVOICE_CHOICE,
                placeholder=_("Invoices"),
                options=options[:100],
                initial_options=options[:100],
            )
        )
        blocks.append(InputBlock(block_id=BlockId.INVOICES, label=_("Invoices to pay"), element=chooser))
    barred = [m for m in ctx.methods if m.id in ctx.barred]
    if barred:  # declined for good (lost, stolen, blocked, expired…): said, never offered
        blocks.append(
            _note(
                _("Not offered: {cards}, declined for good for this balance.").format(
                    cards=", ".join(safe(m.card.label, 64) for m in barred[:5])
                )
            )
        )
    if ctx.offered:
        options = [_method_option(m, ctx, failed) for m in ctx.offered]
        chosen = preferred_method(ctx, failed)
        initial = next((o for o in options if chosen and o.value == chosen.id), None)
        element = (
            RadioButtonsElement(action_id=ActionId.METHOD_CHOICE, options=options, initial_option=initial)
            if len(options) <= RADIO_LIMIT
            else StaticSelectElement(action_id=ActionId.METHOD_CHOICE, options=options[:100], initial_option=initial)
        )
        blocks.append(InputBlock(block_id=BlockId.METHOD, label=_("Pay with"), element=element))
    elif ctx.methods:
        blocks.append(_md(_("*No saved card is left to try.* Add a new card, then refresh.")))
    else:
        blocks.append(_md(_("*No saved payment methods.* Add a card, then refresh.")))
    refresh = refs.encode("alert", alert.alert_id)
    buttons = [ButtonElement(text=_("Refresh cards"), action_id=ActionId.REFRESH_METHODS, value=refresh)]
    if ctx.add_method_url:
        buttons.insert(
            0, ButtonElement(text=_("Add a new card"), action_id=ActionId.ADD_METHOD, url=ctx.add_method_url)
        )
    blocks.append(ActionsBlock(block_id=BlockId.MODAL_ACTIONS, elements=buttons))
    blocks.append(
        _note(_("New cards are entered on the billing provider's secure page; card numbers never pass through Slack."))
    )
    return View(
        type="modal",
        callback_id=CallbackId.PICK,
        title=_(MODAL_TITLE),
        submit=_("Continue") if ctx.offered else None,
        close=_("Cancel"),
        private_metadata=refs.encode("alert", alert.alert_id, lang=current()),
        blocks=blocks,
    )


def _one(invoice: Invoice) -> str:
    desc = safe(invoice.description, 300)
    return f"{desc} ({code(invoice.id)})" if desc else _("invoice {id}").format(id=code(invoice.id))


def charge_sentence(batch: BatchRecord) -> str:
    n = len(batch.settlements)
    what = _("its invoice") if n == 1 else _("these {n} invoices").format(n=n)
    return (
        _("Charge *{amount}* to *{card}* for *{name}*, {what}:").format(
            amount=batch.amount, card=safe(batch.card_label, 100), name=safe(batch.account_name, 500), what=what
        )
        + "\n"
        + "\n".join(
            f"• {code(st.invoice_id)} {safe(st.invoice_description, 200)} — {st.amount}"
            for st in batch.settlements[:20]
        )
    )


def confirm_view(batch: BatchRecord) -> View:
    make_default = Option(
        value="yes",
        text=PlainTextObject(
            text=fitted(_("Make {card} the default for renewals"), "card", batch.card_label, OPTION_TEXT)
        ),
    )
    return View(
        type="modal",
        callback_id=CallbackId.CONFIRM,
        title=_("Confirm payment"),
        submit=charge_label(batch.amount),
        close=_("Back"),
        private_metadata=refs.encode("batch", batch.id, lang=current()),
        blocks=[
            _md(charge_sentence(batch)),
            InputBlock(
                block_id=BlockId.MAKE_DEFAULT,
                label=_("Future renewals"),
                optional=True,
                element=CheckboxesElement(action_id=ActionId.MAKE_DEFAULT, options=[make_default]),
            ),
            _note(
                _("Each invoice is charged once, however many times this is submitted. The bank may ask to verify it.")
            ),
        ],
    )


def checking_view(external_id: str) -> View:
    """What a submitted card choice shows at once, while the choice is checked with the provider; the
    confirmation replaces it (by its external_id)."""
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        external_id=external_id,
        title=_("Confirm payment"),
        close=_("Back"),
        blocks=[_md(_("⏳ Checking the card and the invoices…"))],
    )


def charging_view(external_id: str) -> View:
    """What a submitted confirmation shows at once; the details and the outcome replace it."""
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        external_id=external_id,
        title=_("Settling"),
        close=_("Close"),
        blocks=[
            _md(_("⏳ Charging…")),
            _note(_("You can close this; the alert in the channel will show the outcome.")),
        ],
    )


def processing_view(batch: BatchRecord) -> View:
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        title=_("Settling"),
        close=_("Close"),
        private_metadata=refs.encode("batch", batch.id),
        blocks=[
            _md(
                _("⏳ Charging *{amount}* to *{card}* for {name}…").format(
                    amount=batch.amount, card=safe(batch.card_label, 100), name=safe(batch.account_name, 500)
                )
            ),
            _note(_("You can close this; the alert in the channel will show the outcome.")),
        ],
    )


def verify_label(st: SettlementRecord) -> str:
    """ "Verify €129.00 · Business Standard": what the payment is, not its invoice id; the verb and
    the amount whole, the description shortened to what fits."""
    label = _("Verify {amount}").format(amount=st.amount)
    description = " ".join(st.invoice_description.split())
    if not description or BUTTON - len(label) - len(" · ") < 8:  # no room to say anything of it
        return label
    return fitted(label + " · {description}", "description", description, BUTTON)


def verify_view(batch: BatchRecord, *, not_yet: bool = False) -> View:
    waiting = batch.with_status(SettlementStatus.REQUIRES_ACTION)
    amount = total(waiting) if waiting else batch.amount
    # one button per verification the bank asks for: where it verifies several payments at once
    # (the sandbox's bank does, for one card), one button for all of them
    asks: dict[str, list[SettlementRecord]] = {}
    for st in waiting:
        if st.verification_url:
            asks.setdefault(st.verification_url, []).append(st)
    if len(waiting) <= 1:
        what = _("this payment")
    elif len(asks) == 1:
        what = _("these {n} payments at once").format(n=len(waiting))
    else:
        what = _("these {n} payments (one per invoice)").format(n=len(waiting))
    blocks: list[Block] = [
        _md(
            _("🔐 *The bank wants to verify {what}* of {amount} with {card}.").format(
                what=what, amount=amount, card=safe(batch.card_label, 100)
            )
        ),
    ]
    done = outcome_lines(batch)
    if done:
        blocks.append(_md(done))
    blocks.append(_md(_("Open the bank's page, approve the payment there, and this will update by itself.")))
    if not_yet:
        blocks.append(_md(_("⏳ *The bank has not confirmed yet.* Finish on the bank's page, then try again.")))
    buttons = []
    for i, (url, covered) in enumerate(list(asks.items())[:3]):
        buttons.append(
            ButtonElement(
                text=_("Verify with your bank") if len(asks) == 1 else verify_label(covered[0]),
                action_id=f"{ActionId.VERIFY}{'' if i == 0 else f'_{i}'}",
                url=url,
                style="primary" if i == 0 else None,
            )
        )
    ref = refs.encode("batch", batch.id)
    buttons.append(ButtonElement(text=_("I've finished verifying"), action_id=ActionId.CHECK_VERIFICATION, value=ref))
    buttons.append(ButtonElement(text=_("Use another card"), action_id=ActionId.USE_ANOTHER_CARD, value=ref))
    blocks.append(ActionsBlock(block_id=BlockId.MODAL_ACTIONS, elements=buttons))
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        title=_("Bank verification"),
        close=_("Close"),
        private_metadata=ref,
        blocks=blocks,
    )


def paid_view(batch: BatchRecord) -> View:
    where = (
        " " + _("The alert in {channel} now says so.").format(channel=channel(batch.alert_channel))
        if batch.alert_channel
        else ""
    )
    label = safe(batch.card_label, 100)
    paid = _("✅ *Paid.* {amount} was charged to {card} for {name}.").format(
        amount=batch.amount, card=label, name=safe(batch.account_name, 500)
    )
    blocks: list[Block] = [_md(paid + where)]
    if len(batch.settlements) > 1:
        blocks.append(_md(invoice_list(tuple(st.as_line() for st in batch.settlements))))
    if batch.make_default:
        blocks.append(_note(_("{card} is now the default for future renewals.").format(card=label)))
    return View(type="modal", callback_id=CallbackId.STATUS, title=_("Balance settled"), close=_("Done"), blocks=blocks)


def outcome_text(batch: BatchRecord) -> str:
    """One message for an ephemeral when the modal was closed before the outcome was known."""
    label, name = safe(batch.card_label, 100), safe(batch.account_name, 500)
    status = batch.status
    if status == BatchStatus.SUCCEEDED:
        return _("✅ Paid: {amount} charged to {card} for {name}.").format(amount=batch.amount, card=label, name=name)
    if status == BatchStatus.REQUIRES_ACTION:
        links = [
            st.verification_url for st in batch.with_status(SettlementStatus.REQUIRES_ACTION) if st.verification_url
        ]
        link = ": <{url}|{text}>".format(url=links[0], text=_("open the bank's page")) if links else "."
        return _("🔐 The bank wants to verify the payment with {card} for {name}").format(card=label, name=name) + link
    return clip(f"{name}: " + outcome_lines(batch), MESSAGE_TEXT)


def outcome_view(batch: BatchRecord, next_step: SettleContext | None) -> View:
    """The modal for a confirmation's current state; after a decline, the card choice again."""
    status = batch.status
    if status == BatchStatus.SUCCEEDED:
        return paid_view(batch)
    if status == BatchStatus.REQUIRES_ACTION:
        return verify_view(batch)
    if status in (BatchStatus.CHARGING, BatchStatus.PENDING):
        return processing_view(batch)
    if next_step is not None:
        return pick_view(next_step, failed=batch)
    return info_view(MODAL_TITLE, outcome_lines(batch) or _("Nothing was charged."))


def charge_label(amount: str) -> str:
    """The Charge button names the amount when it fits Slack's 24 characters, else says only the
    verb (the amount is in the modal just above it): never a clipped verb."""
    label = _("Charge {amount}").format(amount=amount)
    return label if len(label) <= TITLE else _("Charge")
