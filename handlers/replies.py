"""Constant replies for refusals and dead ends, ephemeral in channels or as a modal."""

from __future__ import annotations

import contextlib
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settlement import NotSettleable, Refused


def refusal_text(exc: Refused) -> str:
    if exc.message:
        return exc.message
    d = exc.decision
    if d is None:
        return "You can't settle this balance."
    return f"You can't settle {d.account_name}'s balance: only its billing admins can ({d.who()}). Ask one of them."


def dead_end_text(exc: NotSettleable) -> str:
    if exc.kind == "paid":
        who = f" by <@{exc.settlement.user_id}>" if exc.settlement else ""
        return f"This invoice is already paid{who}. Nothing more to do."
    if exc.kind == "busy" and exc.settlement:
        return f"<@{exc.settlement.user_id}> is already settling this invoice. Nothing was charged."
    return "This alert or its invoice no longer exists. Nothing was charged."


def ephemeral(client: WebClient, body: dict[str, Any], text: str) -> None:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user = (body.get("user") or {}).get("id")
    if channel and user:
        with contextlib.suppress(SlackApiError):
            client.chat_postEphemeral(channel=channel, user=user, text=text)
