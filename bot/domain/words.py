"""Counting words for log lines and the terminal: "1 alert", "2 alerts"."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {nouns or noun + 's'}"
