"""Engine and session set-up shared by the server, the poller and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

_read_only: ContextVar[bool] = ContextVar("settle_read_only", default=False)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and write-locking transactions.

    pysqlite starts transactions lazily as readers, and a reader that later writes while another
    process writes fails at once with "database is locked". BEGIN IMMEDIATE takes the write lock up
    front so concurrent processes queue (up to the busy timeout) instead of failing. Reads (see
    `reading`) begin deferred: under WAL they never wait for a writer, nor make one wait.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only unit of work: it must not write (on SQLite it holds no write lock)."""
    token = _read_only.set(True)
    try:
        with factory() as session, session.begin():
            yield session
    finally:
        _read_only.reset(token)


def read_rows(engine: Engine, statement: Any, params: dict[str, Any] | None = None) -> list[Any]:
    """One Core query in a read-only transaction, without an ORM session: for hot paths."""
    token = _read_only.set(True)
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement, params or {}))
    finally:
        _read_only.reset(token)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def unsynced(engine: Engine) -> int:
    """Alerts whose Slack message is behind their record (the partial index keeps this cheap)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM alerts WHERE version > synced_version")).scalar() or 0)
