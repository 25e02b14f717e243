"""Pages the sandbox serves as the 'payment company': invoice view (and, later, card and bank pages)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.billing.sandbox import SandboxProvider
from bot.money import format_money
from bot.web.server import respond

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from bot.services import Services

_INVOICE = re.compile(r"^/sandbox/invoices/([A-Za-z0-9_\-]{1,128})$")

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
"""


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · Settle sandbox</title><style>{STYLE}</style></head>"
        f"<body><main>{body}<footer class=muted>Settle sandbox: a stand-in for your payment provider. "
        "No real money moves.</footer></main></body></html>"
    )


class SandboxPages:
    def __init__(self, services: Services) -> None:
        provider = services.provider
        assert isinstance(provider, SandboxProvider)
        self.provider = provider
        self.services = services

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (m := _INVOICE.match(path)) and environ.get("REQUEST_METHOD") == "GET":
            return self.invoice(m.group(1), start_response)
        return respond(start_response, "404 Not Found", page("Not found", "<h1>Not found</h1>"), "text/html")

    def invoice(self, invoice_id: str, start_response: StartResponse) -> Iterable[bytes]:
        inv = self.provider.get_invoice(invoice_id)
        if inv is None:
            body = page("No such invoice", "<h1>No such invoice</h1><p class=muted>It may have been removed.</p>")
            return respond(start_response, "404 Not Found", body, "text/html; charset=utf-8")
        badge = f"<span class='badge {inv.status}'>{inv.status}</span>"
        body = (
            f"<h1>Invoice {html.escape(inv.id)} {badge}</h1>"
            f"<p class=muted>{html.escape(inv.description)}</p>"
            f"<dl><dt>Account</dt><dd>{html.escape(inv.account_id)}</dd>"
            f"<dt>Amount</dt><dd>{html.escape(format_money(inv.amount_minor, inv.currency))}</dd>"
            f"<dt>Status</dt><dd>{inv.status}</dd></dl>"
        )
        return respond(start_response, "200 OK", page(f"Invoice {inv.id}", body), "text/html; charset=utf-8")
