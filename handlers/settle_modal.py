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
from bot.money import format_money
from bot.settlement import SettleContext, SettlementView
from handlers import refs
from handlers.alert_message import escape
from handlers.ids import Action, ViewId
from handlers.ids import Block as BlockId

TITLE = "Settle balance"
RADIO_LIMIT = 10


def _md(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def info_view(title: str, text: str) -> View:
    """A closing message: refusals, paid or vanished invoices."""
    return View(type="modal", callback_id=ViewId.STATUS, title=title[:24], close="Close", blocks=[_md(text)])


_LOADING = View(
    type="modal",
    callback_id=ViewId.STATUS,
    title=TITLE,
    close="Cancel",
    blocks=[_md("⏳ Loading the account's payment methods…")],
).to_dict()


def loading_view() -> dict[str, Any]:
    """Constant, validated once: it is sent on every click while the trigger_id is fresh."""
    return dict(_LOADING)


def _method_option(m: PaymentMethod, ctx: SettleContext, failed: SettlementView | None) -> Option:
    notes = [f"Expires {m.exp_month:02d}/{m.exp_year}"]
    if m.is_default:
        notes.append("default")
    if failed is not None and m.id == failed.payment_method_id:
        notes.append(f"just declined: {short(failed.reason)}")
    elif m.id == ctx.declined_method_id:
        notes.append(f"renewal declined: {short(ctx.reason)}")
    return Option(
        value=m.id, text=PlainTextObject(text=m.card.label), description=PlainTextObject(text=" · ".join(notes)[:75])
    )


def preferred_method(ctx: SettleContext, failed: SettlementView | None = None) -> PaymentMethod | None:
    """A declined card is never pre-selected; the default is, when it was not declined."""
    avoid = {ctx.declined_method_id, failed.payment_method_id if failed else None}
    usable = [m for m in ctx.methods if m.id not in avoid]
    return next((m for m in usable if m.is_default), usable[0] if usable else None)


def pick_view(ctx: SettleContext, *, failed: SettlementView | None = None) -> View:
    """The method picker; after a declined attempt (`failed`) it says why and offers the others."""
    amount = format_money(ctx.amount_minor, ctx.currency)
    desc = escape(ctx.invoice_description) or ctx.invoice_id
    blocks: list[Block] = [
        _md(f"*{escape(ctx.account_name)}* owes *{amount}* for {desc} (`{ctx.invoice_id}`)."),
    ]
    if ctx.declined_card:
        blocks.append(_note(f"⚠️ {ctx.declined_card} was declined: {explain(ctx.reason).why}"))
    if failed is not None:
        blocks.append(_md(f"❌ {declined_message(failed)}"))
    if ctx.methods:
        options = [_method_option(m, ctx, failed) for m in ctx.methods]
        chosen = preferred_method(ctx, failed)
        initial = next((o for o in options if chosen and o.value == chosen.id), None)
        element = (
            RadioButtonsElement(action_id=Action.METHOD_CHOICE, options=options, initial_option=initial)
            if len(options) <= RADIO_LIMIT
            else StaticSelectElement(action_id=Action.METHOD_CHOICE, options=options[:100], initial_option=initial)
        )
        blocks.append(InputBlock(block_id=BlockId.METHOD, label="Pay with", element=element))
    else:
        blocks.append(_md("*No saved payment methods.* Add a card, then refresh."))
    buttons = [
        ButtonElement(text="Refresh cards", action_id=Action.REFRESH_METHODS, value=refs.encode("alert", ctx.alert_id))
    ]
    if ctx.add_method_url:
        buttons.insert(0, ButtonElement(text="Add a new card", action_id=Action.ADD_METHOD, url=ctx.add_method_url))
    blocks.append(ActionsBlock(block_id=BlockId.MODAL_ACTIONS, elements=buttons))
    blocks.append(
        _note("New cards are entered on the billing provider's secure page; card numbers never pass through Slack.")
    )
    return View(
        type="modal",
        callback_id=ViewId.PICK,
        title=TITLE,
        submit="Continue" if ctx.methods else None,
        close="Cancel",
        private_metadata=refs.encode("alert", ctx.alert_id),
        blocks=blocks,
    )


def charge_sentence(st: SettlementView) -> str:
    amount = format_money(st.amount_minor, st.currency)
    desc = escape(st.invoice_description) or st.invoice_id
    return (
        f"Charge *{amount}* to *{st.card_label}* for *{escape(st.account_name)}*, invoice {desc} (`{st.invoice_id}`)."
    )


def confirm_view(st: SettlementView) -> View:
    amount = format_money(st.amount_minor, st.currency)
    make_default = Option(
        value="yes", text=PlainTextObject(text=f"Make {st.card_label} the default for future renewals")
    )
    return View(
        type="modal",
        callback_id=ViewId.CONFIRM,
        title="Confirm payment",
        submit=f"Charge {amount}"[:24],
        close="Cancel",
        private_metadata=refs.encode("settlement", st.id),
        blocks=[
            _md(charge_sentence(st)),
            InputBlock(
                block_id=BlockId.MAKE_DEFAULT,
                label="Future renewals",
                optional=True,
                element=CheckboxesElement(action_id=Action.MAKE_DEFAULT, options=[make_default]),
            ),
            _note("The card is charged once, however many times this is submitted. The bank may ask to verify it."),
        ],
    )


def processing_view(st: SettlementView) -> View:
    amount = format_money(st.amount_minor, st.currency)
    return View(
        type="modal",
        callback_id=ViewId.STATUS,
        title="Settling",
        close="Close",
        private_metadata=refs.encode("settlement", st.id),
        blocks=[
            _md(f"⏳ Charging *{amount}* to *{st.card_label}* for *{escape(st.account_name)}*…"),
            _note("You can close this; the alert in the channel will show the outcome."),
        ],
    )


def verify_view(st: SettlementView) -> View:
    amount = format_money(st.amount_minor, st.currency)
    blocks: list[Block] = [
        _md(f"🔐 *The bank wants to verify this payment* of {amount} with {st.card_label}."),
        _md("Open the bank's page, approve the payment there, and this will update by itself."),
    ]
    buttons = []
    if st.verification_url:
        buttons.append(
            ButtonElement(
                text="Verify with your bank", action_id=Action.VERIFY, url=st.verification_url, style="primary"
            )
        )
    buttons.append(
        ButtonElement(
            text="I've finished verifying", action_id=Action.CHECK_VERIFICATION, value=refs.encode("settlement", st.id)
        )
    )
    blocks.append(ActionsBlock(block_id=BlockId.MODAL_ACTIONS, elements=buttons))
    return View(
        type="modal",
        callback_id=ViewId.STATUS,
        title="Bank verification",
        close="Close",
        private_metadata=refs.encode("settlement", st.id),
        blocks=blocks,
    )


def paid_view(st: SettlementView) -> View:
    amount = format_money(st.amount_minor, st.currency)
    where = f" The alert in <#{st.alert_channel}> now says so." if st.alert_channel else ""
    blocks: list[Block] = [
        _md(f"✅ *Paid.* {amount} was charged to {st.card_label} for {escape(st.account_name)}.{where}")
    ]
    if st.make_default:
        blocks.append(_note(f"{st.card_label} is now the default for future renewals."))
    return View(type="modal", callback_id=ViewId.STATUS, title="Balance settled", close="Done", blocks=blocks)


def declined_message(st: SettlementView) -> str:
    return f"*{st.card_label} was declined.* {explain(st.reason).why} Pick another card or add a new one."


def outcome_text(st: SettlementView) -> str:
    """One line for an ephemeral message when the modal was closed before the outcome was known."""
    amount = format_money(st.amount_minor, st.currency)
    if st.status == "succeeded":
        return f"✅ Paid: {amount} charged to {st.card_label} for {st.account_name}."
    if st.status == "requires_action":
        return f"🔐 The bank wants to verify the {amount} payment with {st.card_label}: {st.verification_url}"
    return f"❌ {st.card_label} was declined for {st.account_name}: {explain(st.reason).why}"
