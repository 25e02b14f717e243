"""Outside text made safe to print on a terminal."""

from __future__ import annotations

import re

# C0/C1 controls (terminal escapes) and the bidirectional overrides that reorder what a terminal shows
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Outside text (account names, provider messages) made safe to print on a terminal."""
    return _UNPRINTABLE.sub("\ufffd", text)
