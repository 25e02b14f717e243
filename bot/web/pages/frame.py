"""The frame of every page Settle serves (the sandbox's, Stripe's add-card hand-off, the Slack install
pages): Jinja2 templates under templates/, autoescaped, all from base.html (one card on a grey page, in
the reader's language).

In a template, `t("…", name=value)` is a catalogue text as plain text (escaped when shown, the values
with it); `tm("…", name=value)` is one whose catalogue text holds markup of ours (`<b>`), its values
escaped. Nothing from outside is ever marked safe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from bot.i18n import _, current

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f5f7;margin:0;color:#1d1c1d}
main{max-width:480px;margin:64px auto;background:#fff;border-radius:10px;padding:28px 32px;
box-shadow:0 1px 4px rgba(0,0,0,.12)} h1{font-size:20px;margin:0 0 10px} p{line-height:1.5}
.muted{color:#616061;font-size:14px} .ok{color:#1b5e20} .error{color:#b00020}
a.button{display:inline-block;background:#1d4f3a;color:#fff;text-decoration:none;font-weight:600;
padding:10px 18px;border-radius:6px;margin:6px 0} a.button:hover{background:#163d2d}
ul{padding-left:20px;line-height:1.6} code{background:#f4f5f7;padding:1px 4px;border-radius:3px}
"""


def t(message: str, **values: Any) -> str:
    return _(message).format(**values) if values else _(message)


def tm(message: str, **values: Any) -> Markup:
    return Markup(_(message)).format(**values)


ENV = Environment(
    loader=PackageLoader("bot.web.pages", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals.update(t=t, tm=tm, lang=current)


def render(template: str, *, site: str = "Settle", style: str = STYLE, footer: str = "", **context: Any) -> str:
    return ENV.get_template(template).render(site=site, style=Markup(style), footer=footer, **context)


@dataclass(frozen=True)
class Link:
    href: str
    label: str
    button: bool = True


@dataclass(frozen=True)
class Para:
    text: str  # plain text (escaped), or Markup built by tm()
    muted: bool = False


def message_page(
    title: str,
    heading: str,
    *paragraphs: str | Para,
    tone: str = "",
    links: tuple[Link, ...] = (),
    **frame: Any,
) -> str:
    """The page most answers are: a heading ("ok" or "error" in tone), a few paragraphs, links."""
    paras = [p if isinstance(p, Para) else Para(p) for p in paragraphs]
    return render("message.html", title=title, heading=heading, tone=tone, paragraphs=paras, links=links, **frame)
