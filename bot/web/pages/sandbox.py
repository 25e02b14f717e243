"""Pages the sandbox serves as the 'payment company': invoice, hosted add-a-card page, and the bank's
verification page. What happens on them reaches Settle through ProviderHooks, as a webhook would."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from bot.billing.base import ProviderHooks
from bot.billing.sandbox.cards import parse_expiry
from bot.billing.sandbox.provider import SandboxProvider
from bot.domain.decline_reasons import short
from bot.domain.errors import BillingError
from bot.domain.money import format_money
from bot.domain.records import card_label
from bot.i18n import N_, _, language, use
from bot.read.cards import total
from bot.web.pages.frame import Para, message_page, render, tm
from bot.web.router import respond

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

_INVOICE = re.compile(r"^/sandbox/invoices/([A-Za-z0-9_\-]{1,128})$")
_VERIFY = re.compile(r"^/sandbox/verify/([0-9]{1,9})$")
MAX_FORM = 4096


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f5f7;margin:0;color:#1d1c1d}
main{max-width:480px;margin:48px auto;background:#fff;border-radius:10px;padding:28px 32px;
box-shadow:0 1px 4px rgba(0,0,0,.12)} h1{font-size:20px;margin:0 0 4px} .muted{color:#616061;font-size:14px}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 16px;margin:20px 0} dt{color:#616061} dd{margin:0}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:13px;background:#e8f5e9;color:#1b5e20}
.badge.open{background:#fff3e0;color:#8a4b00} button{font-size:15px;padding:9px 18px;border-radius:6px;
border:1px solid #bbb;background:#fff;cursor:pointer;margin-right:8px} button.primary{background:#007a5a;
color:#fff;border-color:#007a5a} input{font-size:16px;padding:8px;width:100%;box-sizing:border-box;
border:1px solid #bbb;border-radius:6px;margin:6px 0 14px} .error{color:#b00020} footer{margin-top:18px}
h2{font-size:16px;margin:22px 0 8px} table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eee} th{color:#616061;font-weight:500}
td.succeeded{color:#1b5e20} td.declined{color:#b00020}
"""


def _frame() -> dict[str, Any]:
    footer = _("Settle sandbox: a stand-in for your payment provider. No real money moves.")
    return {"site": "Settle sandbox", "style": STYLE, "footer": footer}


def _message(title: str, heading: str, *paragraphs: str | Para) -> str:
    return message_page(title, heading, *paragraphs, **_frame())


class SandboxPages:
    def __init__(self, provider: SandboxProvider, hooks: ProviderHooks | None = None) -> None:
        self.provider = provider
        self.hooks = hooks

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with use(language(environ.get("HTTP_ACCEPT_LANGUAGE"))):  # the page in the reader's language
            return self._route(environ, start_response)

    def _route(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if (m := _INVOICE.match(path)) and method in ("GET", "POST"):
            return self.invoice(m.group(1), query.get("token", ""), start_response, pay=method == "POST")
        if (m := _VERIFY.match(path)) and method in ("GET", "POST"):
            form = _form(environ) if method == "POST" else {}
            customer = query.get("for") == "customer"  # from the invoice page the customer paid on
            return self.verify(int(m.group(1)), query.get("token", ""), form, start_response, customer=customer)
        if path == "/sandbox/cards/new" and method in ("GET", "POST"):
            form = _form(environ) if method == "POST" else {}
            return self.add_card(query, form, start_response)
        return _html(start_response, "404 Not Found", _message(_("Not found"), _("Not found")))

    # --- the bank's verification page (3-D Secure stand-in) ------------------------------------

    def verify(
        self,
        attempt_id: int,
        token: str,
        form: dict[str, str],
        start_response: StartResponse,
        *,
        customer: bool = False,
    ) -> Iterable[bytes]:
        if not self.provider.check_token("verify", str(attempt_id), token):
            body = _message(
                _("Link expired"),
                _("This verification link has expired"),
                Para(_("Start the payment again from Slack."), muted=True),
            )
            return _html(start_response, "403 Forbidden", body)
        group = self.provider.verification_group(attempt_id)
        if not group:
            return _html(start_response, "404 Not Found", _message(_("Not found"), _("No such payment")))
        amount = total(group)  # the attempts are priced as invoice lines are
        card = card_label(group[0].brand, group[0].last4)
        if form.get("decision") in ("approve", "decline") and group[0].outcome == "requires_action":
            # one authentication for every payment it covers
            group = [self.provider.complete_verification(a.id, form["decision"] == "approve") for a in group]
            if self.hooks is not None:
                for a in group:
                    self.hooks.payment_updated(f"sbx_att_{a.id}")
        if group[0].outcome != "requires_action":
            approved = group[0].outcome == "succeeded"
            body = _message(
                _("Verification approved") if approved else _("Verification declined"),
                _("Payment approved") if approved else _("Payment declined"),
                _("{amount} with {card}.").format(amount=amount, card=card),
                Para(
                    _("Thank you: you can close this tab.")
                    if customer
                    else _("You can close this tab and return to Slack."),
                    muted=True,
                ),
            )
            return _html(start_response, "200 OK", body)
        query = {"token": token, **({"for": "customer"} if customer else {})}
        body = render(
            "sandbox_verify.html",
            title=_("Verify your payment"),
            amount=amount,
            card=card,
            invoices=[a.invoice_id for a in group],
            action=f"/sandbox/verify/{attempt_id}?{urlencode(query)}",
            **_frame(),
        )
        return _html(start_response, "200 OK", body)

    # --- the hosted "add a card" page ----------------------------------------------------------

    def add_card(self, query: dict[str, str], form: dict[str, str], start_response: StartResponse) -> Iterable[bytes]:
        account_id, ref, token = query.get("account", ""), query.get("ref", ""), query.get("token", "")
        customer = query.get("for") == "customer"  # a link an admin sent the customer (open for a week)
        if not self.provider.check_token("customer_card" if customer else "add_card", f"{account_id}:{ref}", token):
            body = _message(
                _("Link expired"),
                _("This link has expired"),
                Para(tm("Click <b>Add a new card</b> in Slack again."), muted=True),
            )
            return _html(start_response, "403 Forbidden", body)
        if self.provider.link_used(token):
            body = _message(
                _("Link used"),
                _("This link was already used"),
                Para(tm("Each link adds one card. Click <b>Add a new card</b> in Slack for another."), muted=True),
            )
            return _html(start_response, "410 Gone", body)
        error = ""
        if form:
            try:
                month, year = parse_expiry(form.get("exp", ""))
            except ValueError:
                error = _("Enter the expiry as MM/YY.")
            else:
                try:
                    pm = self.provider.add_card(
                        account_id,
                        form.get("number", ""),
                        month,
                        year,
                        make_default=form.get("default") == "on",
                        link_token=token,
                    )
                except (ValueError, BillingError) as exc:
                    error = _sentence(_(str(exc)))
                else:
                    if self.hooks is not None:
                        self.hooks.method_added(account_id, ref, pm.id)
                    saved = _("{card} is saved as the default.") if pm.is_default else _("{card} is saved.")
                    after = (
                        _("Thank you: nothing else is needed.")
                        if customer
                        else _("Return to Slack: it is in the list now.")
                    )
                    body = _message(
                        _("Card added"), _("Card added"), saved.format(card=pm.card.label), Para(after, muted=True)
                    )
                    return _html(start_response, "200 OK", body)
        body = render(
            "sandbox_add_card.html",
            title=_("Add a card"),
            name=self.provider.customer_name(account_id) or account_id,
            error=error,
            customer=customer,
            action="/sandbox/cards/new?"
            + urlencode(
                {"account": account_id, "ref": ref, "token": token, **({"for": "customer"} if customer else {})}
            ),
            **_frame(),
        )
        return _html(start_response, "422 Unprocessable Entity" if error else "200 OK", body)

    def invoice(
        self, invoice_id: str, token: str, start_response: StartResponse, *, pay: bool = False
    ) -> Iterable[bytes]:
        if not self.provider.check_token("invoice", invoice_id, token):
            body = _message(
                _("Link not valid"), _("This invoice link is not valid"), Para(_("Open it from Slack."), muted=True)
            )
            return _html(start_response, "403 Forbidden", body)
        inv = self.provider.invoice_page(invoice_id)
        if inv is None:
            body = _message(
                _("No such invoice"), _("No such invoice"), Para(_("It may have been removed."), muted=True)
            )
            return _html(start_response, "404 Not Found", body)
        error = ""
        if pay and inv["status"] == "open":  # the customer pays here, with the card on file
            try:
                result = self.provider.pay_on_page(invoice_id)
            except BillingError as exc:
                error = _sentence(_(str(exc)))
            else:
                if result.outcome == "requires_action" and result.verification_url:
                    bank = f"{result.verification_url}&for=customer"  # its own words at the end: no Slack for them
                    start_response("303 See Other", [("Location", bank), ("Content-Length", "0")])
                    return [b""]
                if result.outcome == "declined":
                    error = _("The bank declined the card: {why}.").format(why=short(result.reason))
                if self.hooks is not None and result.payment_id:
                    self.hooks.payment_updated(result.payment_id)
            inv = self.provider.invoice_page(invoice_id) or inv
        status = inv["status"] if inv["status"] in STATUS_WORDS else "open"
        attempts = [
            {
                "when": a["at"][:16].replace("T", " "),
                "how": _("Renewal") if a["off_session"] else _("By hand"),
                "card": card_label(a["payment_method"]["brand"], a["payment_method"]["last4"]),
                "outcome": a["outcome"],
                "shown": _outcome(a["outcome"], a["reason"]),
            }
            for a in inv["attempts"]
        ]
        paid = next((a for a in reversed(attempts) if a["outcome"] == "succeeded"), None)
        body = render(
            "sandbox_invoice.html",
            title=_("Invoice {id}").format(id=inv["id"]),
            invoice=inv,
            status=status,
            status_word=_(STATUS_WORDS.get(status, status)),
            amount=format_money(inv["amount_minor"], inv["currency"]),
            paid=paid,
            attempts=attempts,
            error=error,
            action=f"/sandbox/invoices/{invoice_id}?{urlencode({'token': token})}",
            **_frame(),
        )
        return _html(start_response, "402 Payment Required" if error else "200 OK", body)


STATUS_WORDS = {"open": N_("open"), "paid": N_("paid"), "voided": N_("voided"), "uncollectible": N_("uncollectible")}


def _sentence(text: str) -> str:
    """A message as a sentence: its first letter up, a full stop; the rest as written ("Stripe's")."""
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")) if text else text


def _outcome(outcome: str, reason: str | None) -> str:
    words = {"succeeded": N_("Paid"), "declined": N_("Declined"), "requires_action": N_("Waiting for the bank")}
    shown = _(words.get(outcome, outcome))
    return f"{shown} ({short(reason)})" if outcome == "declined" and reason else shown


def _form(environ: WSGIEnvironment) -> dict[str, str]:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_FORM)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else ""
    return {k: v[0] for k, v in parse_qs(raw).items()}


def _html(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    return respond(
        start_response,
        status,
        body,
        "text/html; charset=utf-8",
        headers=[("Cache-Control", "no-store"), ("X-Frame-Options", "DENY")],
    )
