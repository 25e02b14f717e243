"""The pages a workspace admin meets when installing Settle (OAuth): the start page with its Add to
Slack button, and the page Slack's redirect lands on, saying it worked or, in plain words, why not.
Every outside string (a team name, Slack's error code) is escaped."""

from __future__ import annotations

import html
from urllib.parse import quote

from slack_bolt.oauth.callback_options import FailureArgs, SuccessArgs
from slack_bolt.response import BoltResponse

from bot.slack.workspaces import INSTALL_PATH
from bot.web.pages.frame import page

HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}

# what a workspace admin allows, in their words (manifest.yml's bot scopes)
ALLOWS = (
    "post decline alerts in the channels you route to it, and update them as balances are settled",
    "join public alert channels (invite it to private ones)",
    "read its own alerts back after a restart, so none is posted twice",
    "see who is in a user group allowed to settle, and each person's Slack language",
    "the /settle command and a Home tab with open balances",
)

# Bolt's failure reasons, as the person who just clicked should read them
_CANCELLED = "access_denied"
_STALE = {"invalid_browser", "invalid_state", "missing_code"}
_NOT_SAVED = "storage_error"


def install_page(url: str) -> str:
    e = html.escape
    allows = "".join(f"<li>{e(line)}</li>" for line in ALLOWS)
    return page(
        "Add Settle to Slack",
        "<h1>Add Settle to your Slack workspace</h1>"
        "<p>Settle warns your billing channels when a subscription payment is declined, and lets your "
        "billing admins settle the balance from Slack. Card numbers never pass through Slack.</p>"
        f"<p class=muted>Slack will ask you to let Settle:</p><ul class=muted>{allows}</ul>"
        f'<p><a class=button href="{e(url)}">Add to Slack</a></p>'
        "<p class=muted>This link works once, for ten minutes.</p>",
    )


def front_page(oauth: bool) -> str:
    """What PUBLIC_URL answers: what this server is, and where to go from here."""
    install = (
        f'<p><a class=button href="{INSTALL_PATH}">Add Settle to Slack</a></p>'
        if oauth
        else "<p class=muted>It serves one Slack workspace, with the bot token it was given.</p>"
    )
    return page(
        "Settle",
        "<h1>Settle</h1>"
        "<p>This server runs Settle: it warns your billing channels in Slack when a subscription payment "
        "is declined, and lets your billing admins settle the balance from Slack.</p>"
        f"{install}"
        '<p class=muted>Operators: <a href="/healthz">health</a></p>',
    )


def installed(args: SuccessArgs) -> BoltResponse:
    inst = args.installation
    e = html.escape
    team = e(inst.team_name or inst.team_id or "your workspace")
    team_id = quote(inst.team_id or "", safe="")
    app_id = quote(inst.app_id or "", safe="")
    body = page(
        "Settle is installed",
        f"<h1 class=ok>Settle is installed in {team}</h1>"
        "<p>Invite <b>@Settle</b> to the private channels its alerts should go to; it joins public ones "
        "itself. Ask whoever runs Settle to route your billing accounts to this workspace "
        f"(its id is <code>{e(inst.team_id or '')}</code>).</p>"
        f'<p><a class=button href="slack://app?team={team_id}&amp;id={app_id}">Open Slack</a> '
        f'<a href="https://app.slack.com/client/{team_id}">or Slack in the browser</a></p>',
    )
    return BoltResponse(status=200, body=body, headers=dict(HTML))


def not_installed(args: FailureArgs) -> BoltResponse:
    status = args.suggested_status_code
    if args.reason == _CANCELLED:
        title, text = "Not installed", "You cancelled on Slack's page. Nothing was installed."
    elif args.reason == _NOT_SAVED:
        title = "Settle could not save the install"
        text = "Its database did not take it. Nothing was installed; please start again in a minute."
        status = 503  # Settle's own trouble, and one a retry may get past: never a 500
    elif args.reason in _STALE:
        title = "This install link has expired"
        text = (
            "It was used already, is more than ten minutes old, or was opened in another browser than the "
            "one that started. Nothing was installed."
        )
    else:
        title = "Slack did not finish the install"
        text = f"Slack answered “{args.reason}”. Nothing was installed."
    body = page(
        title,
        f"<h1 class=error>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        f'<p><a class=button href="{INSTALL_PATH}">Start again</a></p>',
    )
    return BoltResponse(status=status, body=body, headers=dict(HTML))
