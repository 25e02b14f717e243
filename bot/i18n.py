"""The reader's language: English (the source strings) or Dutch, from gettext catalogues.

Every text a person reads in Slack or on a page is written `_("...")` (named placeholders filled with
`.format` after translating), and is translated into the language in effect for the code running:
`use("nl")` sets it for a block (a context variable, so threads and requests never mix). Catalogues
are `bot/locale/<language>/LC_MESSAGES/settle.po`, read at start with Babel: adding a language is
adding a catalogue. Amounts follow the language too ("€ 129,00" in Dutch)."""

from __future__ import annotations

import contextvars
import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

DEFAULT = "en"
CATALOGUES = Path(__file__).parent / "locale"
DOMAIN = "settle"
# Babel's locale for numbers and currencies in each language
NUMBER_LOCALES = {"en": "en_US", "nl": "nl_NL"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("settle_language", default=DEFAULT)


def available() -> tuple[str, ...]:
    return (DEFAULT, *sorted(p.parent.parent.name for p in CATALOGUES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


def language(tag: str | None) -> str:
    """Slack's "nl-NL", Stripe's "nl", a browser's "nl-BE,nl;q=0.9,en;q=0.8" → a language Settle has."""
    for part in (tag or "").split(","):
        code = part.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if code in available():
            return code
    return DEFAULT


@cache
def _translations(lang: str) -> gettext.NullTranslations:
    # compiled from the .po by tools/catalogue.py (a test keeps the two in step): read, not parsed
    path = CATALOGUES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if lang == DEFAULT or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        return gettext.GNUTranslations(f)


def current() -> str:
    return _current.get()


@contextmanager
def use(lang: str | None) -> Iterator[str]:
    token = _current.set(language(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def switch(lang: str | None) -> None:
    """Inside a `use` block: from here on, this language (the block's end restores the one before)."""
    _current.set(language(lang))


def _(message: str) -> str:
    return _translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a text for the catalogue where it is defined; `_` translates it where it is shown."""
    return message


def number_locale() -> str:
    return NUMBER_LOCALES.get(_current.get(), "en_US")
