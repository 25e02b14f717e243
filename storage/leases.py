"""One replica at a time: a lease row in the shared database (SQLite or PostgreSQL alike).

The holder renews it every run; when it dies its lease lapses after `ttl` and the next replica to
try takes it. Work done under it must still be safe twice (the poll is: declines are unique, alerts
are leased one by one): the lease saves work, correctness never depends on it."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.orm import Session, sessionmaker

from storage.db import reading, transaction
from storage.models import Lease
from storage.upsert import insert_ignore


def new_owner() -> str:
    """This process, as a lease holder: host, pid, and a nonce (a pid may be reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str | None) -> bool:
    """A lease held by a process on this host that no longer exists can be taken over at once."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    if int(pid_s) == os.getpid():
        return False
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class DbLease:
    def __init__(self, sessions: sessionmaker[Session], name: str, owner: str, ttl: timedelta) -> None:
        self.sessions = sessions
        self.name = name
        self.owner = owner
        self.ttl = ttl

    def acquire(self, now: datetime | None = None) -> bool:
        """Hold (or keep holding) the lease until now + ttl; False when another replica holds it."""
        now = now or datetime.now(UTC)
        with transaction(self.sessions) as s:
            values = {"name": self.name, "holder": self.owner, "until": now + self.ttl}
            if insert_ignore(s, Lease, values, ["name"]) is not None:
                return True
            won = cast(
                CursorResult[Any],
                s.execute(
                    update(Lease)
                    .where(Lease.name == self.name, or_(Lease.holder == self.owner, Lease.until < now))
                    .values(holder=self.owner, until=now + self.ttl)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            return won == 1

    def ran(self, now: datetime | None = None) -> None:
        """The work finished: record when (health checks read it), and keep the lease."""
        now = now or datetime.now(UTC)
        with transaction(self.sessions) as s:
            s.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.holder == self.owner)
                .values(last_run_at=now, until=now + self.ttl)
                .execution_options(synchronize_session=False)
            )

    def release(self) -> None:
        """On shutdown: another replica may take over at once."""
        with transaction(self.sessions) as s:
            s.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.holder == self.owner)
                .values(until=datetime.now(UTC) - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )

    def last_run(self) -> datetime | None:
        with reading(self.sessions) as s:
            row = s.get(Lease, self.name)
            return row.last_run_at if row else None
