"""Outside text into Slack: one escaping function and Slack's length limits, used by every builder.

Account and invoice names, descriptions, provider messages and ids from files are data, never
markup: `<!channel>` in an account name must reach Slack as text, not as a mention.
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_datetime

from bot.domain import slack_ids
from bot.i18n import _, number_locale

# Slack's published limits for the fields the builders fill.
HEADER = 150
SECTION = 3000
FIELD = 2000
CONTEXT = 2000
OPTION_TEXT = 75
OPTION_DESCRIPTION = 75
BUTTON = 75
TITLE = 24
MESSAGE_TEXT = 4000


def escape(text: str) -> str:
    """Slack's three control characters, as Slack documents them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Shorten to `limit` characters with an ellipsis, never inside an escape (`&lt;`) or a Slack
    token (`<@U1>`, `<!date^…|…>`): Slack would show half of one as it is."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    amp, semi = cut.rfind("&"), cut.rfind(";")
    if amp > semi and len(cut) - amp <= 8:  # "&amp;" cut short
        cut = cut[:amp]
    lt, gt = cut.rfind("<"), cut.rfind(">")
    if lt > gt:
        cut = cut[:lt]
    return cut + "…"


def safe(text: str, limit: int) -> str:
    """Outside text for mrkdwn: escaped, then shortened without cutting an entity in half."""
    out = escape(text)
    if len(out) <= limit:
        return out
    cut = out[: max(0, limit - 1)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def user(slack_id: str | None) -> str:
    """A mention of a user or user group, only for a well-formed id; anything else is shown as text."""
    if not slack_id:
        return _("someone")
    if slack_ids.USER.match(slack_id):
        return f"<@{slack_id}>"
    if slack_ids.GROUP.match(slack_id):
        return f"<!subteam^{slack_id}>"
    return escape(slack_id)


def channel(channel_id: str | None) -> str:
    if channel_id and slack_ids.is_channel(channel_id):
        return f"<#{channel_id}>"
    return escape(channel_id) if channel_id else _("another channel")


def code(text: str) -> str:
    """An id shown as inline code (backticks removed: they would end it)."""
    return "`" + safe(text.replace("`", "'"), 200) + "`"


def slack_date(at: datetime) -> str:
    """A date Slack renders in each reader's own time zone (its words in the message's language: Slack
    fills in the tokens, the rest is ours), with a UTC fallback in that language too."""
    fallback = format_datetime(at, "d MMM yyyy HH:mm", tzinfo=UTC, locale=number_locale()) + " UTC"
    tokens = _("{date_short_pretty} at {time}")
    return f"<!date^{int(at.timestamp())}^{tokens}|{fallback}>"
