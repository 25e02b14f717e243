"""Block Kit for the settle modal's steps: pure functions of the service's records."""

from __future__ import annotations

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
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.billing.base import PaymentMethod
from bot.decline_reasons import explain, short
from bot.queries import SettleContext, SettlementRecord
from bot.states import SettlementStatus
from handlers import refs
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.mrkdwn import OPTION_DESCRIPTION, OPTION_TEXT, SECTION, TITLE, channel, clip, code, safe, user

MODAL_TITLE = "Settle balance"
RADIO_LIMIT = 10


def _md(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION)))


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def info_view(title: str, text: str) -> View:
    """A closing message: refusals, paid or vanished invoices."""
    return View(
        type="modal", callback_id=CallbackId.STATUS, title=clip(title, TITLE), close="Close", blocks=[_md(text)]
    )


_LOADING = View(
    type="modal",
    callback_id=CallbackId.STATUS,
    title=MODAL_TITLE,
    close="Cancel",
    blocks=[_md("⏳ Loading the account's payment methods…")],
).to_dict()


def loading_view() -> dict[str, Any]:
    """Constant, validated once: it is sent on every click while the trigger_id is fresh."""
    return dict(_LOADING)


def _method_option(m: PaymentMethod, ctx: SettleContext, failed: SettlementRecord | None) -> Option:
    notes = [f"Expires {m.exp_month:02d}/{m.exp_year}"]
    if m.is_default:
        notes.append("default")
    if failed is not None and m.id == failed.payment_method_id:
        notes.append(f"just declined: {short(failed.reason)}")
    elif m.id == ctx.alert.declined_method_id:
        notes.append(f"renewal declined: {short(ctx.alert.reason)}")
    return Option(
        value=m.id,
        text=PlainTextObject(text=clip(m.card.label, OPTION_TEXT)),
        description=PlainTextObject(text=clip(" · ".join(notes), OPTION_DESCRIPTION)),
    )


def preferred_method(ctx: SettleContext, failed: SettlementRecord | None = None) -> PaymentMethod | None:
    """A declined card is never pre-selected; the default is, when it was not declined."""
    avoid = {ctx.alert.declined_method_id, failed.payment_method_id if failed else None}
    usable = [m for m in ctx.methods if m.id not in avoid]
    return next((m for m in usable if m.is_default), usable[0] if usable else None)


def pick_view(ctx: SettleContext, *, failed: SettlementRecord | None = None) -> View:
    """The method picker; after a declined attempt (`failed`) it says why and offers the others."""
    alert, invoice = ctx.alert, ctx.invoice
    desc = safe(invoice.description, 500) or code(invoice.id)
    blocks: list[Block] = [
        _md(f"*{safe(alert.account_name, 500)}* owes *{ctx.amount}* for {desc} ({code(invoice.id)})."),
    ]
    if alert.card_label:
        blocks.append(_note(f"⚠️ {safe(alert.card_label, 100)} was declined: {explain(alert.reason).why}"))
    if failed is not None:
        blocks.append(_md(f"❌ {declined_message(failed)}"))
    if ctx.methods:
        options = [_method_option(m, ctx, failed) for m in ctx.methods]
        chosen = preferred_method(ctx, failed)
        initial = next((o for o in options if chosen and o.value == chosen.id), None)
        element = (
            RadioButtonsElement(action_id=ActionId.METHOD_CHOICE, options=options, initial_option=initial)
            if len(options) <= RADIO_LIMIT
            else StaticSelectElement(action_id=ActionId.METHOD_CHOICE, options=options[:100], initial_option=initial)
        )
        blocks.append(InputBlock(block_id=BlockId.METHOD, label="Pay with", element=element))
    else:
        blocks.append(_md("*No saved payment methods.* Add a card, then refresh."))
    buttons = [
        ButtonElement(
            text="Refresh cards", action_id=ActionId.REFRESH_METHODS, value=refs.encode("alert", alert.alert_id)
        )
    ]
    if ctx.add_method_url:
        buttons.insert(0, ButtonElement(text="Add a new card", action_id=ActionId.ADD_METHOD, url=ctx.add_method_url))
    blocks.append(ActionsBlock(block_id=BlockId.MODAL_ACTIONS, elements=buttons))
    blocks.append(
        _note("New cards are entered on the billing provider's secure page; card numbers never pass through Slack.")
    )
    return View(
        type="modal",
        callback_id=CallbackId.PICK,
        title=MODAL_TITLE,
        submit="Continue" if ctx.methods else None,
        close="Cancel",
        private_metadata=refs.encode("alert", alert.alert_id),
        blocks=blocks,
    )


def charge_sentence(st: SettlementRecord) -> str:
    desc = safe(st.invoice_description, 500) or code(st.invoice_id)
    return (
        f"Charge *{st.amount}* to *{safe(st.card_label, 100)}* for *{safe(st.account_name, 500)}*, "
        f"invoice {desc} ({code(st.invoice_id)})."
    )


def confirm_view(st: SettlementRecord) -> View:
    amount = st.amount
    make_default = Option(
        value="yes", text=PlainTextObject(text=clip(f"Make {st.card_label} the default for renewals", OPTION_TEXT))
    )
    return View(
        type="modal",
        callback_id=CallbackId.CONFIRM,
        title="Confirm payment",
        submit=clip(f"Charge {amount}", TITLE),
        close="Cancel",
        private_metadata=refs.encode("settlement", st.id),
        blocks=[
            _md(charge_sentence(st)),
            InputBlock(
                block_id=BlockId.MAKE_DEFAULT,
                label="Future renewals",
                optional=True,
                element=CheckboxesElement(action_id=ActionId.MAKE_DEFAULT, options=[make_default]),
            ),
            _note("The card is charged once, however many times this is submitted. The bank may ask to verify it."),
        ],
    )


def processing_view(st: SettlementRecord) -> View:
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        title="Settling",
        close="Close",
        private_metadata=refs.encode("settlement", st.id),
        blocks=[
            _md(f"⏳ Charging *{st.amount}* to *{safe(st.card_label, 100)}* for *{safe(st.account_name, 500)}*…"),
            _note("You can close this; the alert in the channel will show the outcome."),
        ],
    )


def verify_view(st: SettlementRecord) -> View:
    blocks: list[Block] = [
        _md(f"🔐 *The bank wants to verify this payment* of {st.amount} with {safe(st.card_label, 100)}."),
        _md("Open the bank's page, approve the payment there, and this will update by itself."),
    ]
    buttons = []
    if st.verification_url:
        buttons.append(
            ButtonElement(
                text="Verify with your bank", action_id=ActionId.VERIFY, url=st.verification_url, style="primary"
            )
        )
    buttons.append(
        ButtonElement(
            text="I've finished verifying",
            action_id=ActionId.CHECK_VERIFICATION,
            value=refs.encode("settlement", st.id),
        )
    )
    blocks.append(ActionsBlock(block_id=BlockId.MODAL_ACTIONS, elements=buttons))
    return View(
        type="modal",
        callback_id=CallbackId.STATUS,
        title="Bank verification",
        close="Close",
        private_metadata=refs.encode("settlement", st.id),
        blocks=blocks,
    )


def paid_view(st: SettlementRecord) -> View:
    where = f" The alert in {channel(st.alert_channel)} now says so." if st.alert_channel else ""
    label = safe(st.card_label, 100)
    blocks: list[Block] = [
        _md(f"✅ *Paid.* {st.amount} was charged to {label} for {safe(st.account_name, 500)}.{where}")
    ]
    if st.make_default:
        blocks.append(_note(f"{label} is now the default for future renewals."))
    return View(type="modal", callback_id=CallbackId.STATUS, title="Balance settled", close="Done", blocks=blocks)


def declined_message(st: SettlementRecord) -> str:
    return f"*{safe(st.card_label, 100)} was declined.* {explain(st.reason).why} Pick another card or add a new one."


def outcome_text(st: SettlementRecord) -> str:
    """One line for an ephemeral message when the modal was closed before the outcome was known."""
    label, name = safe(st.card_label, 100), safe(st.account_name, 500)
    if st.status == SettlementStatus.SUCCEEDED:
        return f"✅ Paid: {st.amount} charged to {label} for {name}."
    if st.status == SettlementStatus.REQUIRES_ACTION:
        link = f": <{st.verification_url}|open the bank's page>" if st.verification_url else "."
        return f"🔐 The bank wants to verify the {st.amount} payment with {label}{link}"
    return f"❌ {label} was declined for {name}: {explain(st.reason).why}"


def settled_reply(st: SettlementRecord) -> str:
    """The thread reply under the alert once a settlement paid it."""
    return f"✅ Settled by {user(st.user_id)}: {st.amount} charged to {safe(st.card_label, 100)}."


def outcome_view(st: SettlementRecord, next_step: SettleContext | None) -> View:
    """The modal for a settlement's current state; after a decline, the card choice again."""
    if st.status == SettlementStatus.SUCCEEDED:
        return paid_view(st)
    if st.status == SettlementStatus.REQUIRES_ACTION:
        return verify_view(st)
    if st.status == SettlementStatus.CHARGING:
        return processing_view(st)
    if st.status == SettlementStatus.DECLINED and next_step is not None:
        return pick_view(next_step, failed=st)
    return info_view(MODAL_TITLE, declined_message(st) if st.status == SettlementStatus.DECLINED else outcome_text(st))
