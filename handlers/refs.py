"""Typed references carried in button values and private_metadata: parsed here, never trusted.

They only say which record the user is looking at; every listener re-reads that record and re-checks
the user's rights before acting on it."""

from __future__ import annotations

import json
from typing import Any


class BadRef(ValueError):
    """A value or private_metadata that is not one of ours (forged, stale or malformed)."""


def encode(kind: str, ident: int) -> str:
    return json.dumps({"k": kind, "id": ident}, separators=(",", ":"))


def parse(raw: Any, kind: str) -> int:
    """Return the id in `raw` if it is a reference of `kind`; a bare positive integer is also accepted."""
    if isinstance(raw, str) and raw.isdigit():
        return _positive(int(raw))
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("id"), int):
        raise BadRef(f"expected a {kind} reference")
    return _positive(data["id"])


def _positive(value: int) -> int:
    if value <= 0 or value > 2**62:
        raise BadRef("out of range")
    return value
