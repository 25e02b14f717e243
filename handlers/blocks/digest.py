"""Block Kit for a storm's digest and its list of every balance: pure functions of read-model records.

The digest is one message in the channel: how many renewals declined, what they owe per currency, why
(how many need the bank's authentication), the largest still open with their Settle buttons, and a
button to the list of every balance (a modal, a page of ten at a time, each balance with its Settle
button, its menu and its assignee picker)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.decline_reasons import short
from bot.domain.money import format_money
from bot.domain.slack_ids import USER
from bot.domain.states import ALERT_DONE, AlertState
from bot.i18n import _, current, ngettext, use
from bot.read.cards import AlertCard
from bot.read.digests import DigestCard
from handlers.blocks.alert_message import alert_menu
from handlers.blocks.balance_list import balance_line, duration, settle_button
from handlers.blocks.mrkdwn import HEADER, MESSAGE_TEXT, SECTION, TITLE, clip, safe, slack_date, user
from handlers.support.ids import ActionId, BlockId, CallbackId
from handlers.support.refs import ASSIGN_BLOCK, encode


def owed_text(digest: DigestCard) -> str:
    return " · ".join(format_money(minor, currency) for currency, minor in digest.owed) or _("nothing")


def digest_text(digest: DigestCard) -> str:
    """Notification and screen-reader fallback."""
    n = digest.count
    said = ngettext(
        "{n} renewal declined in this channel: {owed} still owed.",
        "{n} renewals declined in this channel: {owed} still owed.",
        n,
    ).format(n=n, owed=owed_text(digest))
    return clip(said, MESSAGE_TEXT)


def digest_blocks(digest: DigestCard) -> list[Block]:
    n = digest.count
    header = ngettext("🌩️ {n} renewal declined", "🌩️ {n} renewals declined", n).format(n=n)
    # "needs bank verification (5)": the labels are phrased for one card, so the count goes after
    reasons = " · ".join(f"{short(reason)} ({count})" for reason, count in digest.reasons[:6])
    blocks: list[Block] = [
        HeaderBlock(block_id=BlockId.DIGEST_HEADER, text=PlainTextObject(text=clip(header, HEADER), emoji=True)),
        SectionBlock(
            block_id=BlockId.DIGEST_FACTS,
            fields=[
                MarkdownTextObject(text="*" + _("Still owed") + f"*\n{owed_text(digest)}"),
                MarkdownTextObject(text="*" + _("Still open") + f"*\n{digest.open_count}"),
                MarkdownTextObject(text="*" + _("Need the bank's verification") + f"*\n{digest.need_authentication}"),
                MarkdownTextObject(text="*" + _("Settled since") + f"*\n{digest.settled_count}"),
            ],
        ),
        SectionBlock(
            block_id=BlockId.DIGEST_REASONS,
            text=MarkdownTextObject(
                text=clip(
                    _("A storm of declined renewals since {when}, told in one message.").format(
                        when=slack_date(digest.opened_at)
                    )
                    + ("\n" + _("*Why:* {reasons}").format(reasons=reasons) if reasons else ""),
                    SECTION,
                )
            ),
        ),
    ]
    if digest.largest:
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_("*Largest still open*"))))
        for card in digest.largest:
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(text=clip(balance_line(card), SECTION)), accessory=settle_button(card)
                )
            )
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_("✅ *Every balance of this storm is over.*"))))
    label = ngettext("See the balance", "See all {n} balances", n).format(n=n)
    blocks.append(
        ActionsBlock(
            block_id=BlockId.DIGEST_ACTIONS,
            elements=[
                ButtonElement(
                    text=PlainTextObject(text=clip(label, 75)),
                    action_id=ActionId.DIGEST_LIST,
                    value=encode("digest", digest.digest_id, "page:0"),
                    style="primary" if digest.open_count else None,
                )
            ],
        )
    )
    blocks.append(
        ContextBlock(
            block_id=BlockId.DIGEST_FOOTER,
            elements=[
                MarkdownTextObject(
                    text=_(
                        "Each balance is settled, snoozed and assigned on its own, from the list, App Home or "
                        "`/settle ACCOUNT`; reminders for them come in this thread."
                    )
                )
            ],
        )
    )
    return blocks


def list_view(digest: DigestCard, page: list[AlertCard], number: int, pages: int, note: str | None = None) -> View:
    """A page of every balance the digest tells of, each with its Settle button, menu and picker."""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    _("*{n} renewals declined* in this channel: {owed} still owed, {open} open.").format(
                        n=digest.count, owed=owed_text(digest), open=digest.open_count
                    ),
                    SECTION,
                )
            )
        )
    ]
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(note, 2000))]))
    for card in page:
        over = card.state in ALERT_DONE
        blocks.append(DividerBlock())
        if not over:
            line = balance_line(card)
        elif card.state == AlertState.PAID:
            line = _("*{name}* — paid {amount}").format(name=safe(card.account_name, 200), amount=card.amount)
        else:
            line = _("*{name}* — closed: nothing is owed any more").format(name=safe(card.account_name, 200))
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=clip(line, SECTION)), accessory=None if over else settle_button(card)
            )
        )
        if not over:
            picker = UserSelectElement(
                placeholder=PlainTextObject(text=_("Assign to…") if not card.assignee else _("Reassign to…")),
                action_id=ActionId.ASSIGN,
                initial_user=card.assignee if card.assignee and USER.match(card.assignee) else None,
            )
            blocks.append(ActionsBlock(block_id=f"{ASSIGN_BLOCK}{card.alert_id}", elements=[alert_menu(card), picker]))
    nav = []
    if number > 0:
        nav.append(
            ButtonElement(
                text=_("Previous"),
                action_id=ActionId.DIGEST_PAGE_BACK,
                value=encode("digest", digest.digest_id, f"page:{number - 1}", lang=current()),
            )
        )
    if number < pages - 1:
        nav.append(
            ButtonElement(
                text=_("Next"),
                action_id=ActionId.DIGEST_PAGE,
                value=encode("digest", digest.digest_id, f"page:{number + 1}", lang=current()),
            )
        )
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=_("Page {n} of {pages}").format(n=number + 1, pages=pages))])
    )
    if nav:
        blocks.append(ActionsBlock(block_id=BlockId.DIGEST_NAV, elements=nav))
    return View(
        type="modal",
        callback_id=CallbackId.DIGEST_LIST,
        title=PlainTextObject(text=clip(_("Declined renewals"), TITLE)),
        close=PlainTextObject(text=_("Close")),
        private_metadata=encode("digest", digest.digest_id, f"page:{number}", lang=current()),
        blocks=blocks,
    )


def digest_reply(digest: DigestCard, kind: str, detail: dict[str, Any]) -> str:
    """A reply in the digest's thread: the follow-ups of its balances, one per run."""
    n = len(detail.get("alerts") or []) or 1
    who = " ".join(user(str(m)) for m in (detail.get("mention") or [])[:20] if m)
    open_for = duration(int(detail.get("open_for") or 0))
    if kind == "digest_escalated":
        text = ngettext(
            "🚨 Escalated: {n} balance of this storm is open for {open_for} and not settled.",
            "🚨 Escalated: {n} balances of this storm are open for {open_for} and not settled.",
            n,
        ).format(n=n, open_for=open_for)
    else:
        text = ngettext(
            "⏰ Reminder: {n} balance of this storm has been open for {open_for}.",
            "⏰ Reminder: {n} balances of this storm have been open for {open_for}.",
            n,
        ).format(n=n, open_for=open_for)
        text += " " + (_("{who}, can you settle them?").format(who=who) if who else _("Can an admin settle them?"))
    return clip(f"{text} {who}".rstrip() if kind == "digest_escalated" else text, MESSAGE_TEXT)


class DigestMessage:
    """The DigestRenderer the courier is given: in the channel's language."""

    def text(self, digest: DigestCard) -> str:
        with use(digest.language):
            return digest_text(digest)

    def blocks(self, digest: DigestCard) -> list[Block]:
        with use(digest.language):
            return digest_blocks(digest)

    def reply(self, digest: DigestCard, kind: str, detail: dict[str, Any]) -> str:
        with use(digest.language):
            return digest_reply(digest, kind, detail)
