"""Secrets Settle makes for itself: random, generated once, stored, and the same for every replica."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session, sessionmaker

from storage.db import reading, transaction
from storage.models import AppSecret, utcnow
from storage.upsert import insert_ignore


def stored_secret(sessions: sessionmaker[Session], name: str) -> str:
    with reading(sessions) as s:
        row = s.get(AppSecret, name)
        if row is not None:
            return row.value
    with transaction(sessions) as s:
        # two processes starting at once: the first insert wins and both read it back
        insert_ignore(s, AppSecret, {"name": name, "value": secrets.token_hex(32), "created_at": utcnow()}, ["name"])
    with reading(sessions) as s:
        row = s.get(AppSecret, name)
        assert row is not None
        return row.value
