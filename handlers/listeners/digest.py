"""A storm's digest: its "See all balances" button opens the list of every balance it tells of, a page
at a time; from there each balance is settled, snoozed or assigned as from its own alert."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import NotSettleable
from bot.read.digests import digest_list
from handlers.blocks.digest import list_view
from handlers.support import refs
from handlers.support.errors import answering
from handlers.support.ids import ActionId, CallbackId
from handlers.support.services import requester, services

log = logging.getLogger(__name__)


def _page_of(body: dict[str, Any]) -> int:
    actions = body.get("actions")
    raw = actions[0].get("value") if isinstance(actions, list) and actions and isinstance(actions[0], dict) else None
    do = refs.action_of(raw) or ""
    number = do.removeprefix("page:")
    return int(number) if do.startswith("page:") and number.isdigit() and len(number) < 6 else 0


def render(context: BoltContext, digest_id: int, page: int, note: str | None = None) -> Any:
    """The list's page, for someone of the digest's own workspace; NotSettleable("gone") otherwise."""
    svc = services(context)
    found = digest_list(svc.sessions, digest_id, svc.access.scope(requester(context).team_id), page)
    if found is None:
        raise NotSettleable("gone")
    return list_view(found.digest, found.page, found.number, found.pages, note)


def list_clicked(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    view = render(context, refs.required(context, "digest"), 0)
    client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)


def page_clicked(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    view_id = (body.get("view") or {}).get("id")
    if isinstance(view_id, str):
        client.views_update(view_id=view_id, view=render(context, refs.required(context, "digest"), _page_of(body)))


def refresh_list(client: WebClient, body: dict[str, Any], context: BoltContext, note: str) -> bool:
    """After a menu or picker in the list was used: the same page again, saying what was done. False
    when the interaction did not come from a digest's list."""
    view = body.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != CallbackId.DIGEST_LIST:
        return False
    meta = refs.decode(view.get("private_metadata"))
    if meta is None or meta.kind != "digest":
        return False
    do = refs.action_of(view.get("private_metadata")) or ""
    page = int(do.removeprefix("page:")) if do.startswith("page:") and do[5:].isdigit() else 0
    try:
        client.views_update(view_id=str(view.get("id")), view=render(context, meta.id, page, note))
    except SlackApiError as exc:
        log.info("digest list %s not refreshed: %s", view.get("id"), exc.response.get("error"))
    return True


def register(app: App) -> None:
    app.action(ActionId.DIGEST_LIST)(answering(list_clicked))
    app.action(ActionId.DIGEST_PAGE)(answering(page_clicked))
    app.action(ActionId.DIGEST_PAGE_BACK)(answering(page_clicked))
