"""The frame of every page Settle serves (the sandbox's, Stripe's add-card hand-off, the Slack
install pages): one card on a grey page, in the reader's language."""

from __future__ import annotations

import html

from bot.i18n import current

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f5f7;margin:0;color:#1d1c1d}
main{max-width:480px;margin:64px auto;background:#fff;border-radius:10px;padding:28px 32px;
box-shadow:0 1px 4px rgba(0,0,0,.12)} h1{font-size:20px;margin:0 0 10px} p{line-height:1.5}
.muted{color:#616061;font-size:14px} .ok{color:#1b5e20} .error{color:#b00020}
a.button{display:inline-block;background:#1d4f3a;color:#fff;text-decoration:none;font-weight:600;
padding:10px 18px;border-radius:6px;margin:6px 0} a.button:hover{background:#163d2d}
ul{padding-left:20px;line-height:1.6} code{background:#f4f5f7;padding:1px 4px;border-radius:3px}
"""


def page(title: str, body: str, *, site: str = "Settle", style: str = STYLE, footer: str = "") -> str:
    """`body` and `footer` are HTML the caller escaped; the title is escaped here."""
    foot = f"<footer class=muted>{footer}</footer>" if footer else ""
    return (
        f"<!doctype html><html lang={current()}><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · {html.escape(site)}</title><style>{style}</style></head>"
        f"<body><main>{body}{foot}</main></body></html>"
    )
