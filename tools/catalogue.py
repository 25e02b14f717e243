"""The message catalogues (bot/locale/<language>/LC_MESSAGES/settle.po) against the texts in the code.

    python tools/catalogue.py            # adds the code's new texts to each catalogue, untranslated,
                                         # and compiles each to settle.mo (what Settle reads at start)
    python tools/catalogue.py --check    # lists texts a catalogue lacks or leaves untranslated, and a
                                         # settle.mo older than its .po; exit 1

A new language is a new catalogue: copy one, set its Language header, translate every msgstr."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "t": None, "tm": None}  # t, tm: the pages' (frame.py)
IN_FSTRING = re.compile(r"(?<![\w.])_\('((?:[^'\\]|\\.)*)'\)")


def texts() -> list[str | tuple[str, str]]:
    """Every text a person reads, as the code writes it (the English source)."""
    from bot.domain.decline_reasons import catalogue_texts

    found: dict[str | tuple[str, str], None] = {}
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / folder),
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            keywords=KEYWORDS,
        ):
            found[message if isinstance(message, str) else tuple(message)] = None
    # Babel's extractor does not look inside f-strings: `_('…')` there is found by pattern
    for path in sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "handlers").rglob("*.py")):
        for literal in IN_FSTRING.findall(path.read_text(encoding="utf-8")):
            found[literal.replace("\\'", "'")] = None
    for text in catalogue_texts():
        found[text] = None
    return list(found)


def catalogues() -> list[Path]:
    return sorted((ROOT / "bot" / "locale").glob("*/LC_MESSAGES/settle.po"))


def compiled(path: Path) -> bytes:
    """The .po as gettext's binary catalogue: built once here, not parsed at every start."""
    with path.open("rb") as f:
        catalogue = read_po(f)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    return buffer.getvalue()


def problems(path: Path) -> list[str]:
    with path.open("rb") as f:
        catalogue = read_po(f)
    out = []
    mo = path.with_suffix(".mo")
    if not mo.exists() or mo.read_bytes() != compiled(path):
        out.append(f"{path.parent.parent.name}: {mo.name} is not compiled from {path.name}: run tools/catalogue.py")
    for msgid in texts():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalogue.get(key)
        strings = message.string if message is not None else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            out.append(f"{path.parent.parent.name}: no translation for {msgid!r}")
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = [p for path in catalogues() for p in problems(path)]
        print("\n".join(found) or "every catalogue translates every text")
        return 1 if found else 0
    for path in catalogues():
        with path.open("rb") as f:
            catalogue = read_po(f)
        for msgid in texts():
            key = msgid[0] if isinstance(msgid, tuple) else msgid
            if catalogue.get(key) is None:
                catalogue.add(msgid, ("", "") if isinstance(msgid, tuple) else "")
        with path.open("wb") as f:
            write_po(f, catalogue, width=0)
        path.with_suffix(".mo").write_bytes(compiled(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
