"""One place turns domain errors into a reply for the surface the request came from: a field error
or the modal's last step for a submission, the open modal for a button in it, an ephemeral message
for a button on an alert. Refusals are constant messages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import (
    BillingError,
    ChargeOutcomeUnknown,
    InvalidChoice,
    NotSettleable,
    ProviderUnavailable,
    Refused,
)
from bot.i18n import N_, _, switch, use
from bot.runtime.pools import PoolFull
from handlers.blocks.mrkdwn import code, safe, user
from handlers.blocks.settle_modal import MODAL_TITLE, info_view
from handlers.support.ids import BlockId
from handlers.support.refs import BadRef, Ref
from handlers.support.services import services

log = logging.getLogger(__name__)

OUT_OF_DATE = N_("This form is out of date. Close it and click *Settle balance* on the alert again.")
STALE_BUTTON = N_("That button is out of date. Use *Settle balance* on the latest alert.")
TROUBLE = N_(
    "Something went wrong on Settle's side and this step did not finish. Try again in a moment; "
    "the alert in the channel always shows where the balance stands."
)

Reply = Callable[[str], None]
Listener = Callable[[Ack, dict[str, Any], WebClient, BoltContext], None]


# what was refused, in the words of the refusal (one whole sentence each, for the translators)
_REFUSED_THIS = {
    "settle": N_("You can't settle this balance."),
    "snooze": N_("You can't snooze this balance."),
    "assign": N_("You can't assign this balance."),
    "update_card": N_("You can't update this account's card."),
    "paid_another_way": N_("You can't mark this balance paid another way."),
    "void": N_("You can't void this balance."),
    "write_off": N_("You can't write off this balance."),
    "ask_customer": N_("You can't ask this customer to pay or add a card."),
    "retry": N_("You can't schedule or cancel a retry of this balance."),
    "approve": N_("You can't approve or reject requests for this balance."),
    "approve_own": N_("You asked for this one: another admin approves or rejects it."),
    "decided_request": N_(
        "This confirmation was already rejected or expired: nothing was charged. Open *Settle balance* on "
        "the alert to ask again."
    ),
}
_REFUSED_NAMED = {
    "settle": N_("You can't settle {name}'s balance: only its billing admins can ({who}). Ask one of them."),
    "snooze": N_("You can't snooze {name}'s balance: only its billing admins can ({who}). Ask one of them."),
    "assign": N_("You can't assign {name}'s balance: only its billing admins can ({who}). Ask one of them."),
    "update_card": N_("You can't update {name}'s card: only its billing admins can ({who}). Ask one of them."),
    "paid_another_way": N_(
        "You can't mark {name}'s balance paid another way: only its billing admins can ({who}). Ask one of them."
    ),
    "void": N_("You can't void {name}'s balance: only its billing admins can ({who}). Ask one of them."),
    "write_off": N_("You can't write off {name}'s balance: only its billing admins can ({who}). Ask one of them."),
    "ask_customer": N_(
        "You can't ask {name} to pay or add a card: only its billing admins can ({who}). Ask one of them."
    ),
    "retry": N_(
        "You can't schedule or cancel a retry of {name}'s balance: only its billing admins can ({who}). "
        "Ask one of them."
    ),
    "approve": N_(
        "You can't approve or reject requests for {name}'s balance: only its billing admins can ({who}). "
        "Ask one of them."
    ),
}


def refusal_text(exc: Refused) -> str:
    if exc.message:
        return exc.message
    d = exc.decision
    if d is None:
        return _(_REFUSED_THIS.get(exc.action, _REFUSED_THIS["settle"]))
    return _(_REFUSED_NAMED.get(exc.action, _REFUSED_NAMED["settle"])).format(
        name=safe(d.account_name, 300), who=who(d.admins)
    )


def who(admins: tuple[str, ...]) -> str:
    if not admins:
        return _("nobody is configured yet (SETTLE_ADMINS or the account's admins)")
    shown = [user(a) for a in admins[:10]]
    return ", ".join(shown[:-1]) + (_(" or ") if len(shown) > 1 else "") + shown[-1]


def dead_end_text(exc: NotSettleable) -> str:
    if exc.kind == "paid":
        if exc.by:
            return _("This balance is already paid by {who}. Nothing more to do.").format(who=user(exc.by))
        return _("This balance is already paid. Nothing more to do.")
    if exc.kind == "closed":
        return _(
            "Nothing is owed any more: the invoices were voided or written off in the billing system. "
            "Nothing was charged."
        )
    if exc.kind == "busy" and exc.by:
        return _("{who} is already settling this balance. Nothing was charged.").format(who=user(exc.by))
    return _("This alert or its invoice no longer exists. Nothing was charged.")


def reply_text(error: Exception) -> str:
    if isinstance(error, Refused):
        return refusal_text(error)
    if isinstance(error, NotSettleable):
        return dead_end_text(error)
    if isinstance(error, BadRef):
        return _(OUT_OF_DATE)
    if isinstance(error, ChargeOutcomeUnknown):
        return _(
            "The billing system did not answer in time, so it is not known yet whether the payment went "
            "through. Settle asks again within a few minutes with the same payment key (it can never be "
            "charged twice); this form and the alert will show the outcome."
        ) + _request(error.request_id)
    if isinstance(error, ProviderUnavailable):
        return _(
            "The billing system is not answering right now ({why}). Nothing was charged. Try again in a minute."
        ).format(why=safe(error.message, 200)) + _request(error.request_id)
    if isinstance(error, BillingError):  # the billing system refused the request, and said why
        return _("The billing system refused this: {why}. Nothing was changed.").format(
            why=safe(_(str(error)), 200).rstrip(".")
        )
    return _(TROUBLE)


def _request(request_id: str | None) -> str:
    return " " + _("(Stripe request {id})").format(id=code(request_id)) if request_id else ""


def ephemeral(client: WebClient, body: dict[str, Any], text: str) -> None:
    """An ephemeral message to the user in the channel the interaction came from, if there is one."""
    # an interaction names them as objects; a slash command flat
    channel = _get(body, "channel", "id") or _get(body, "container", "channel_id") or body.get("channel_id")
    user_id = _get(body, "user", "id") or body.get("user_id")
    if isinstance(channel, str) and isinstance(user_id, str):
        try:
            client.chat_postEphemeral(channel=channel, user=user_id, text=text)
        except SlackApiError as exc:
            log.info("ephemeral to %s not sent: %s", user_id, exc.response.get("error"))


def replace_view(client: WebClient, external_id: str, view: Any, attempts: int = 7) -> bool:
    """Update a view Settle showed in its answer to Slack, by its external_id: until Slack has shown
    that answer the id is `not_found`, and the update waits a moment (this runs after the ack), up to
    about three seconds in all: a busy Slack (or machine) can take more than a second to show it."""
    view.external_id = external_id
    for attempt in range(attempts):
        try:
            client.views_update(external_id=external_id, view=view)
            return True
        except SlackApiError as exc:
            if exc.response.get("error") != "not_found" or attempt == attempts - 1:
                log.info("modal %s not updated: %s", external_id, exc.response.get("error"))
                return False
            time.sleep(0.05 * 2**attempt)
    return False


def answer(client: WebClient, body: dict[str, Any], error: Exception, shown: str | None = None) -> None:
    """Tell the user after the request was acknowledged: in their modal (the view the ack showed,
    `shown`, when it showed one), or ephemerally."""
    text = reply_text(error)
    view_id = _get(body, "view", "id")
    if shown is not None and replace_view(client, shown, info_view(MODAL_TITLE, text)):
        return
    if isinstance(view_id, str) and shown is None:
        try:
            client.views_update(view_id=view_id, view=info_view(MODAL_TITLE, text))
            return
        except SlackApiError as exc:
            log.info("modal %s not updated: %s", view_id, exc.response.get("error"))
    if isinstance(error, BadRef) and _get(body, "type") == "block_actions":
        text = _(STALE_BUTTON)
    ephemeral(client, body, text)


def handle(error: Exception, ack: Ack, body: dict[str, Any], client: WebClient, shown: str | None = None) -> None:
    """The one place a listener's error becomes a reply. Before the ack the reply is the answer to
    Slack's request itself (a submission's field error or last step); after it, a message on the
    surface the request came from."""
    kind, user_id = _get(body, "type"), _get(body, "user", "id")
    if isinstance(error, (Refused, NotSettleable, BadRef, InvalidChoice, BillingError)):
        log.info("%s from %s answered: %s", kind, user_id, type(error).__name__)
    elif isinstance(error, (ProviderUnavailable, ChargeOutcomeUnknown)):
        log.warning("%s from %s: provider unavailable (request %s)", kind, user_id, error.request_id)
    else:
        log.error("listener failed (type=%s user=%s): %r", kind, user_id, error, exc_info=error)
    if ack.response is not None:
        answer(client, body, error, shown)
    elif kind == "view_submission":
        if isinstance(error, InvalidChoice):
            ack(
                response_action="errors",
                errors={BlockId.METHOD: _("That card is no longer on the account. Refresh and pick another.")},
            )
        else:
            ack(response_action="update", view=info_view(MODAL_TITLE, reply_text(error)))
    else:
        ack()
        answer(client, body, error)


def answering(listener: Listener) -> Listener:
    """Registers `listener` with its errors answered by `handle`: a listener raises a domain error
    and never writes a reply for it. (Bolt's own error hook cannot do this safely once a listener
    has acked: it would overwrite the ack.)"""

    def run(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        # Everything this listener says is in the clicker's language (their Slack locale). Nothing but
        # parsing comes before the ack: the language is the one the view was shown in, or one known
        # already; else it is asked of Slack once Slack has been answered.
        ref = context.get("ref")
        languages = services(context).languages
        lang = (ref.lang if isinstance(ref, Ref) else None) or languages.cached(context.user_id, context.team_id)
        context["language"] = lang
        with use(lang):
            answer_first: Ack = _LanguageAfterAck(ack, context) if lang is None else ack  # type: ignore[assignment]
            try:
                listener(answer_first, body, client, context)
            except Exception as exc:
                handle(exc, answer_first, body, client, context.get("shown"))

    run.__name__ = run.__qualname__ = listener.__name__
    return run


def after_ack(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, work: Callable[[], None]
) -> None:
    """The rest of an acked listener, on the submissions pool: the listener's thread is free for the next
    request's ack at once. (A burst of 120 Charge submissions of one balance queued their acks behind
    the duplicates' work and missed Slack's 3 seconds.) Its errors are answered as the listener's are;
    the language goes with it (the pool runs it in this context)."""

    def run() -> None:
        try:
            work()
        except Exception as exc:
            handle(exc, ack, body, client, context.get("shown"))

    try:
        services(context).submissions.submit(run)
    except PoolFull:  # acked already: doing it here only delays the next ack, it loses nothing
        run()


class _LanguageAfterAck:
    """An Ack that, once called, looks up the clicker's language for the rest of the listener."""

    def __init__(self, ack: Ack, context: BoltContext) -> None:
        self._ack = ack
        self._context = context

    @property
    def response(self) -> Any:
        return self._ack.response

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        answered = self._ack(*args, **kwargs)
        lang = services(self._context).languages.of(self._context.user_id, self._context.team_id)
        self._context["language"] = lang
        switch(lang)
        return answered


def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
    """Bolt's error hook, for what fails outside a listener (middleware): logged, and a 500."""
    log.error("request failed (type=%s): %r", _get(body, "type"), error, exc_info=error)
    return BoltResponse(status=500, body="")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
