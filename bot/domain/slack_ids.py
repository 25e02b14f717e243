"""Slack ids as Slack issues them. Ids from files, settings or provider metadata are checked here
before Settle stores them or puts them in a mention."""

from __future__ import annotations

import re

USER = re.compile(r"^[UW][A-Z0-9]{1,20}$")
GROUP = re.compile(r"^S[A-Z0-9]{1,20}$")
CHANNEL = re.compile(r"^[CGD][A-Z0-9]{1,20}$")
TEAM = re.compile(r"^T[A-Z0-9]{1,20}$")


def is_user_or_group(value: str) -> bool:
    return bool(USER.match(value) or GROUP.match(value))


def is_channel(value: str) -> bool:
    return bool(CHANNEL.match(value))


def is_team(value: str) -> bool:
    """A Slack workspace id (T…)."""
    return bool(TEAM.match(value))
