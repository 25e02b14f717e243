"""A terminal rendering of posted Block Kit JSON, for `settle demo`, and a Block Kit Builder link."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

BUILDER = "https://app.slack.com/block-kit-builder/#"


def _mrkdwn(text: str) -> str:
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<#([A-Z0-9]+)>", r"#\1", text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = text.replace("*", "").replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_plain(blocks: list[dict[str, Any]], width: int = 72) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(block["text"]["text"])
            lines.append("═" * min(width, max(len(block["text"]["text"]) + 2, 20)))
        elif kind == "section":
            if block.get("text"):
                lines.extend(_mrkdwn(block["text"]["text"]).splitlines())
            for f in block.get("fields", []):
                label, _, value = _mrkdwn(f["text"]).partition("\n")
                lines.append(f"  {label + ':':<15} {value}")
        elif kind == "actions":
            buttons = []
            for el in block.get("elements", []):
                if el.get("type") == "overflow":  # a menu of options behind "⋯"
                    shown = ", ".join(o["text"]["text"] for o in el.get("options", []))
                    buttons.append(f"[ ⋯ {shown} ]")
                    continue
                if el.get("type", "").endswith("_select"):  # a picker
                    buttons.append(f"[ {el.get('placeholder', {}).get('text', 'Choose…')} ▾ ]")
                    continue
                label = el.get("text", {}).get("text", "?")
                buttons.append(f"[ {label} ↗ ]" if el.get("url") else f"[ {label} ]")
            lines.append("  ".join(buttons))
        elif kind == "context":
            lines.append("  " + " ".join(_mrkdwn(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("─" * 20)
        elif kind == "input":
            element = block.get("element", {})
            lines.append(block.get("label", {}).get("text", "") + ("  (optional)" if block.get("optional") else ""))
            chosen = (element.get("initial_option") or {}).get("value")
            for opt in element.get("options", []):
                mark = "◉" if opt.get("value") == chosen else "○"
                if element.get("type") == "checkboxes":
                    ticked = {o.get("value") for o in element.get("initial_options") or []}
                    mark = "☑" if opt.get("value") in ticked else "☐"
                desc = opt.get("description", {}).get("text")
                lines.append(f"  {mark} {opt['text']['text']}" + (f"  ({desc})" if desc else ""))
    return "\n".join(lines)


def builder_link(blocks: list[dict[str, Any]]) -> str:
    return BUILDER + quote(json.dumps({"blocks": blocks}, separators=(",", ":")), safe="")
