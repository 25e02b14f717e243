"""Typed references carried in button values and private_metadata.

A reference only names the record the user is looking at; every listener re-reads that record and
re-checks the user's rights before acting on it. The app's middleware (handlers/__init__.py) reads
the reference of every interaction once; a listener asks for the kind it expects with `required`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt import BoltContext

from bot.i18n import available

Kind = Literal["alert", "batch", "digest", "approval"]
MAX_ID = 2**31 - 1  # ids are int4 columns on PostgreSQL
MAX_RAW = 200  # a reference is a few dozen characters; anything longer is not ours
ASSIGN_BLOCK = "alert_assign:"  # + the alert id: a users_select carries no value of its own


class BadRef(ValueError):
    """A value or private_metadata that is not one of ours (forged, stale or malformed)."""


@dataclass(frozen=True)
class Ref:
    kind: Kind
    id: int
    lang: str | None = None  # the language the view was shown in: its answers need no lookup first


def encode(kind: Kind, ident: int, do: str | None = None, *, lang: str | None = None) -> str:
    """`do` names what a menu option does to the record (its value is the reference); `lang` the
    language a view is shown in, so a submission is answered in it before anything is asked."""
    data: dict[str, Any] = {"k": kind, "id": ident}
    if do is not None:
        data["do"] = do
    if lang is not None:
        data["l"] = lang
    return json.dumps(data, separators=(",", ":"))


def action_of(raw: Any) -> str | None:
    """The `do` of a menu option's reference."""
    try:
        data = json.loads(raw) if isinstance(raw, str) and len(raw) <= MAX_RAW else None
    except ValueError:
        return None
    do = data.get("do") if isinstance(data, dict) else None
    return do if isinstance(do, str) else None


def parse(raw: Any, kind: Kind) -> int:
    """The id in `raw` if it is a reference of `kind`; a bare positive integer is an alert (alert buttons)."""
    ref = decode(raw)
    if ref is None or ref.kind != kind:
        raise BadRef(f"expected a {kind} reference")
    return ref.id


def decode(raw: Any) -> Ref | None:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_RAW:
        return None
    if raw.isascii() and raw.isdigit():
        number = int(raw)
        return Ref("alert", number) if 0 < number <= MAX_ID else None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("k") not in ("alert", "batch", "digest", "approval"):
        return None
    ident = data.get("id")
    if type(ident) is not int or not 0 < ident <= MAX_ID:  # not bool, not float
        return None
    lang = data.get("l")
    return Ref(data["k"], ident, lang if isinstance(lang, str) and lang in available() else None)


def raw_ref(body: dict[str, Any]) -> Any:
    """Where an interaction carries our reference: the clicked button's value, else the view's metadata."""
    if body.get("type") == "block_actions":
        actions = body.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        if "value" in action:
            return action.get("value")
        option = action.get("selected_option")
        if isinstance(option, dict) and "value" in option:  # an overflow menu's option
            return option.get("value")
        block = action.get("block_id")
        if isinstance(block, str) and block.startswith(ASSIGN_BLOCK):  # the alert's people picker
            return block[len(ASSIGN_BLOCK) :]
    view = body.get("view")
    return view.get("private_metadata") if isinstance(view, dict) else None


def required(context: BoltContext, kind: Kind) -> int:
    ref = context.get("ref")
    if not isinstance(ref, Ref) or ref.kind != kind:
        raise BadRef(f"expected a {kind} reference")
    return ref.id
