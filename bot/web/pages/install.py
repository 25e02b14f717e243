"""The pages a workspace admin meets when installing Settle (OAuth): the start page with its Add to
Slack button, and the page Slack's redirect lands on, saying it worked or, in plain words, why not.
Every outside string (a team name, Slack's error code) is escaped."""

from __future__ import annotations

from urllib.parse import quote

from markupsafe import Markup
from slack_bolt.oauth.callback_options import FailureArgs, SuccessArgs
from slack_bolt.response import BoltResponse

from bot.i18n import N_, _
from bot.slack.workspaces import INSTALL_PATH
from bot.web.pages.frame import Link, message_page, render, tm

HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}

# what a workspace admin allows, in their words (manifest.yml's bot scopes)
ALLOWS = (
    N_("post decline alerts in the channels you route to it, and update them as balances are settled"),
    N_("join public alert channels (invite it to private ones)"),
    N_("read its own alerts back after a restart, so none is posted twice"),
    N_("see who is in a user group allowed to settle, and each person's Slack language"),
    N_("the /settle command and a Home tab with open balances"),
)

# Bolt's failure reasons, as the person who just clicked should read them
_CANCELLED = "access_denied"
_STALE = {"invalid_browser", "invalid_state", "missing_code"}
_NOT_SAVED = "storage_error"


def install_page(url: str) -> str:
    return render("install.html", title=_("Add Settle to Slack"), allows=ALLOWS, url=url)


def front_page(oauth: bool) -> str:
    """What PUBLIC_URL answers: what this server is, and where to go from here."""
    return render("front.html", title="Settle", install=INSTALL_PATH if oauth else "")


def installed(args: SuccessArgs) -> BoltResponse:
    inst = args.installation
    team_id = quote(inst.team_id or "", safe="")
    app_id = quote(inst.app_id or "", safe="")
    body = message_page(
        _("Settle is installed"),
        _("Settle is installed in {team}").format(team=inst.team_name or inst.team_id or _("your workspace")),
        tm(
            "Invite <b>@Settle</b> to the private channels its alerts should go to; it joins public ones itself. "
            "Ask whoever runs Settle to route your billing accounts to this workspace (its id is {team_id}).",
            team_id=Markup("<code>{}</code>").format(inst.team_id or ""),
        ),
        tone="ok",
        links=(
            Link(f"slack://app?team={team_id}&id={app_id}", _("Open Slack")),
            Link(f"https://app.slack.com/client/{team_id}", _("or Slack in the browser"), button=False),
        ),
    )
    return BoltResponse(status=200, body=body, headers=dict(HTML))


def not_installed(args: FailureArgs) -> BoltResponse:
    status = args.suggested_status_code
    if args.reason == _CANCELLED:
        title, text = _("Not installed"), _("You cancelled on Slack's page. Nothing was installed.")
    elif args.reason == _NOT_SAVED:
        title = _("Settle could not save the install")
        text = _("Its database did not take it. Nothing was installed; please start again in a minute.")
        status = 503  # Settle's own trouble, and one a retry may get past: never a 500
    elif args.reason in _STALE:
        title = _("This install link has expired")
        text = _(
            "It was used already, is more than ten minutes old, or was opened in another browser than the "
            "one that started. Nothing was installed."
        )
    else:
        title = _("Slack did not finish the install")
        text = _("Slack answered “{reason}”. Nothing was installed.").format(reason=args.reason)
    body = message_page(title, title, text, tone="error", links=(Link(INSTALL_PATH, _("Start again")),))
    return BoltResponse(status=status, body=body, headers=dict(HTML))
