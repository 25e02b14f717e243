"""A pasted invoice or customer link unfurls into its balance (link_shared → chat.unfurl), after Slack
is answered. A link Settle knows nothing of, or one of another workspace's accounts, unfurls to
nothing: no chat.unfurl call at all."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks.unfurl import unfurl
from handlers.support.errors import after_ack
from handlers.support.services import services

log = logging.getLogger(__name__)

MAX_LINKS = 10  # Slack sends at most a handful per message


def link_shared(ack: Ack, body: dict[str, Any], event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    if body.get("is_ext_shared_channel") is True:
        return  # a Slack Connect channel: people of other organisations read it, and nothing internal goes there
    svc = services(context)
    links = event.get("links")
    urls = (
        [str(link["url"]) for link in links[:MAX_LINKS] if isinstance(link, dict) and isinstance(link.get("url"), str)]
        if isinstance(links, list)
        else []
    )
    channel = event.get("channel") if isinstance(event.get("channel"), str) else None
    where: dict[str, Any]
    if isinstance(event.get("unfurl_id"), str) and isinstance(event.get("source"), str):
        where = {"unfurl_id": event["unfurl_id"], "source": event["source"]}  # in the composer, or posted
    elif channel and isinstance(event.get("message_ts"), str):
        where = {"channel": channel, "ts": event["message_ts"]}
    else:
        return
    scope = svc.access.scope(context.team_id)

    def work() -> None:
        unfurls = {}
        for url in urls:
            found = svc.unfurls.find(url, scope, channel)
            if found is not None:
                unfurls[url] = unfurl(found)
        if not unfurls:
            return
        try:
            client.chat_unfurl(unfurls=unfurls, **where)
        except SlackApiError as exc:
            log.info("chat.unfurl of %d link(s) refused: %s", len(unfurls), exc.response.get("error"))

    after_ack(ack, body, client, context, work)  # the submissions pool, or here when it is full: never dropped


def register(app: App) -> None:
    app.event("link_shared")(link_shared)
