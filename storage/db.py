"""Engine and session set-up shared by the server, the poller and the CLI."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

_read_only: ContextVar[bool] = ContextVar("settle_read_only", default=False)
_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
# who commits the waiting small units of work (see `grouped`): SQLite's writer lock
_committers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


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

        _writers[engine] = _committers[engine] = threading.RLock()
        return engine
    # PostgreSQL takes concurrent writers as they come: its small units of work are not grouped
    # (measured on renewal day: no faster, and a batch of leases would couple unrelated rows' locks)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in growing steps
    (up to 100 ms) before it looks again; this process's writers queue on a lock of their own
    instead, so sixteen delivery threads take turns without sleeping (other processes still wait
    on SQLite's busy timeout)."""
    writers = _writers.get(factory.kw.get("bind"))  # type: ignore[arg-type]
    if writers is None:
        with factory() as session, session.begin():
            yield session
        return
    with writers, factory() as session, session.begin():
        yield session


class _Job:
    __slots__ = ("context", "done", "error", "result", "work")

    def __init__(self, work: Callable[[Session], Any]) -> None:
        self.work = work
        self.context = copy_context()  # run in its caller's context, whoever commits it
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


_queues: weakref.WeakKeyDictionary[Engine, list[_Job]] = weakref.WeakKeyDictionary()
_queues_lock = threading.Lock()


def grouped(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """A small unit of work (a lease taken, a delivery recorded), committed together with the others
    waiting for the write lock at the same moment: on SQLite, whoever gets the lock commits every
    queued one in one transaction, so thirty delivery threads cost a few commits, not thirty. If the
    batch fails, each is run again in a transaction of its own, and only its own error reaches it.
    Elsewhere (PostgreSQL) it is one transaction, as `transaction` is."""
    engine = factory.kw.get("bind")
    writers = _committers.get(engine)  # type: ignore[arg-type]
    if writers is None:
        with transaction(factory) as s:
            return work(s)
    job = _Job(work)
    with _queues_lock:
        queue = _queues.setdefault(engine, [])  # type: ignore[arg-type]
        queue.append(job)
    with writers:
        if not job.done:
            with _queues_lock:
                batch, queue[:] = list(queue), []
            _commit_together(factory, batch)
    if job.error is not None:
        raise job.error
    return cast(T, job.result)


def _commit_together(factory: sessionmaker[Session], batch: list[_Job]) -> None:
    try:
        with factory() as session, session.begin():
            results = [job.context.run(job.work, session) for job in batch]
    except Exception:
        for job in batch:  # one of them failed: each on its own, so the others still commit
            try:
                with factory() as session, session.begin():
                    job.result = job.context.run(job.work, session)
            except Exception as exc:
                job.error = exc
            job.done = True
        return
    for job, result in zip(batch, results, strict=True):
        job.result, job.done = result, True


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
