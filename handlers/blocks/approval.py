"""A request for a second pair of eyes, in its alert's thread and on App Home: who asks for what,
who may decide, Approve / Reject while it waits, and what came of it once decided."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.i18n import _, use
from bot.read.approvals import ApprovalCard
from handlers.blocks.mrkdwn import CONTEXT, MESSAGE_TEXT, SECTION, clip, safe, slack_date, user
from handlers.support.ids import ActionId
from handlers.support.refs import encode

SHOWN_APPROVERS = 8


def asked(request: ApprovalCard) -> str:
    """What the requester asks, in a sentence."""
    facts = {
        "who": user(request.requested_by),
        "amount": request.amount,
        "name": safe(request.alert.account_name, 300),
        "card": safe(request.card_label or "", 64) or _("the chosen card"),
    }
    if request.kind == "retry":
        when = slack_date(request.retry_due) if request.retry_due else _("the chosen day")
        return _("{who} asks to retry *{amount}* of *{name}* on {when} with {card}.").format(when=when, **facts)
    if request.kind == "paid":
        words = safe(request.reason or "", 500)
        return _("{who} asks to mark *{amount}* of *{name}* as paid another way: “{reason}”").format(
            reason=words, **facts
        )
    if request.make_default:
        return _(
            "{who} asks to charge *{amount}* for *{name}* to {card}, and to make it the default card for renewals."
        ).format(**facts)
    return _("{who} asks to charge *{amount}* for *{name}* to {card}.").format(**facts)


def outcome_text(request: ApprovalCard) -> str:
    """What came of a decided request."""
    who = user(request.decided_by)
    when = slack_date(request.decided_at) if request.decided_at else ""
    if request.status == "rejected":
        return _("❌ Rejected by {who} {when}: nothing was charged.").format(who=who, when=when)
    if request.expired:
        return _("⌛ Expired without a decision: nothing was charged. {requester} can ask again.").format(
            requester=user(request.requested_by)
        )
    done = {
        None: _("carrying it out…"),
        "succeeded": _("paid."),
        "partial": _("part of it was paid; the alert says what is still owed."),
        "declined": _("the bank declined the charge; the alert says why."),
        "requires_action": _("the bank wants the cardholder to verify it; the alert says what to do."),
        "unknown": _("the billing system did not answer yet; Settle asks again with the same key."),
        "scheduled": _("the retry is scheduled."),
        "ended": _("marked as paid another way."),
    }
    check = {  # money may have moved, or part of it: the alert has the truth
        "charging": _("the charge is under way; the alert shows how it ends."),
        "pending": _("the charge is under way; the alert shows how it ends."),
        "already_charged": _("it was carried out already; the alert shows how it ended."),
        "not_ended": _("some invoices were not marked paid; the alert says which are still open."),
        "failed": _("something went wrong while carrying it out; check the alert before trying again."),
        "too_late": _("its day passed while it waited, so it was not scheduled; pick another day."),
    }
    what = done.get(request.outcome) or check.get(request.outcome or "")
    if what is None:
        why = {
            "busy": _("someone else is settling it"),
            "not_settleable:busy": _("someone else is settling it"),
            "not_settleable:paid": _("the balance is paid already"),
            "not_settleable:closed": _("the invoices were voided or written off"),
            "not_settleable:gone": _("the alert or its invoices no longer exist"),
            "balance_changed": _("the balance changed since it was asked; ask again"),
            "requester_refused": _("the requester may no longer settle this account"),
            "not_scheduled": _("another retry is scheduled already"),
        }
        what = _("nothing was done: {why}.").format(
            why=why.get(request.outcome or "", _("the balance is no longer open"))
        )
    return _("✅ Approved by {who} {when}: {what}").format(who=who, when=when, what=what)


class ApprovalMessage:
    """The renderer delivery is given (bot/delivery/ports.py ApprovalRenderer)."""

    def text(self, request: ApprovalCard) -> str:
        with use(request.alert.language):
            if request.status == "pending" and not request.expired:
                return clip(_("🖐 Approval needed: ") + asked(request), MESSAGE_TEXT)
            return clip(outcome_text(request), MESSAGE_TEXT)

    def blocks(self, request: ApprovalCard) -> list[Any]:
        with use(request.alert.language):
            return [b.to_dict() for b in approval_blocks(request, buttons=True)]


def approval_blocks(request: ApprovalCard, *, buttons: bool) -> list[Block]:
    """`buttons`: the Approve / Reject row while it waits (App Home hides it from the requester)."""
    waiting = request.status == "pending" and not request.expired
    header = (_("🖐 *Approval needed* · ") if waiting else _("🖐 *Asked* · ")) + asked(request)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(header, SECTION)))]
    if not waiting:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(outcome_text(request), CONTEXT))]))
        return blocks
    approvers = [user(a) for a in (request.approvers or ())[:SHOWN_APPROVERS]]
    if approvers:
        who = _("{approvers}: one of you approves or rejects it by {expires}.")
    elif request.approvers is not None:
        who = _(
            "No one else may approve it: the requester is this account's only billing admin. Add another "
            "(the account's admins or SETTLE_ADMINS), or it expires unapproved at {expires}."
        )
    else:
        who = _("Another billing admin of this account approves or rejects it by {expires}.")
    note = (
        who.format(approvers=", ".join(approvers), expires=slack_date(request.expires_at))
        + " "
        + _("Only an approval charges, once; {who} cannot approve their own request.").format(
            who=user(request.requested_by)
        )
    )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(note, CONTEXT))]))
    if buttons:
        ref = encode("approval", request.request_id)
        blocks.append(
            ActionsBlock(
                block_id=f"approval:{request.request_id}",
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text=_("Approve")),
                        action_id=ActionId.APPROVE,
                        value=ref,
                        style="primary",
                        confirm=ConfirmObject(
                            title=PlainTextObject(text=_("Approve this?")),
                            text=MarkdownTextObject(text=clip(asked(request), 300)),
                            confirm=PlainTextObject(text=_("Approve")),
                            deny=PlainTextObject(text=_("Cancel")),
                        ),
                    ),
                    ButtonElement(
                        text=PlainTextObject(text=_("Reject")), action_id=ActionId.REJECT, value=ref, style="danger"
                    ),
                ],
            )
        )
    return blocks
