"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from storage.db import make_engine
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Base


def migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Bring the schema to one revision, as an older release of Settle left it."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff
    engine.dispose()


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    migrate_to(engine, "base", down=True)
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    engine.dispose()


def test_alerts_per_invoice_become_one_balance_per_account(db_url: str) -> None:
    """Data from before balances: two open alerts of one account merge into one with two invoices,
    and a settlement gets a batch of its own."""
    from sqlalchemy import text

    engine = make_engine(db_url)
    migrate_to(engine, "0003")
    now = "2026-11-01 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, name, currency) VALUES ('acme', 'Acme', 'EUR')"))
        for i, amount in ((1, 10000), (2, 25000)):
            conn.execute(
                text(
                    "INSERT INTO declines (id, provider_failure_id, account_id, invoice_id, amount_minor, currency,"
                    " outcome, reason, failed_at, seen_at) VALUES (:i, :f, 'acme', :inv, :a, 'EUR', 'declined',"
                    " 'insufficient_funds', :now, :now)"
                ),
                {"i": i, "f": f"f{i}", "inv": f"in_{i}", "a": amount, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO alerts (id, invoice_id, account_id, latest_decline_id, decline_count, state,"
                    " invoice_description, version, synced_version, post_attempts, created_at, updated_at)"
                    " VALUES (:i, :inv, 'acme', :i, 1, 'open', :d, 1, 1, 1, :now, :now)"
                ),
                {"i": i, "inv": f"in_{i}", "d": f"invoice {i}", "now": now},
            )
        conn.execute(
            text(
                "INSERT INTO settlements (id, alert_id, invoice_id, account_id, user_id, view_id, payment_method_id,"
                " card_label, amount_minor, currency, make_default, idempotency_key, status, created_at, updated_at)"
                " VALUES (1, 1, 'in_1', 'acme', 'U1', 'V1', 'pm_1', 'Visa ·· 4242', 10000, 'EUR', false, 'k1',"
                " 'declined', :now, :now)"
            ),
            {"now": now},
        )
    upgrade(engine)
    with engine.connect() as conn:
        open_alerts = list(conn.execute(text("SELECT id, version FROM alerts WHERE state != 'paid'")))
        assert len(open_alerts) == 1 and open_alerts[0][0] == 1 and open_alerts[0][1] == 2  # bumped: re-rendered
        invoices = list(conn.execute(text("SELECT invoice_id, alert_id, amount_minor FROM alert_invoices ORDER BY id")))
        assert invoices == [("in_1", 1, 10000), ("in_2", 1, 25000)]
        batch = conn.execute(
            text("SELECT b.view_id FROM settlements s JOIN settlement_batches b ON b.id = s.batch_id")
        ).one()
        assert batch[0] == "V1"
    engine.dispose()


def test_the_sandbox_feed_starts_where_the_poller_had_read(db_url: str) -> None:
    """The poller's cursor was an attempt id; after 0005 it points at the same place in the events."""
    from sqlalchemy import text

    engine = make_engine(db_url)
    migrate_to(engine, "0004")
    now = "2026-11-01 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sandbox_customers (id, name, currency) VALUES ('acme', 'Acme', 'EUR')"))
        conn.execute(
            text(
                "INSERT INTO sandbox_invoices (id, customer_id, amount_minor, currency, description, status,"
                " created_at) VALUES ('in_1', 'acme', 100, 'EUR', '', 'paid', :now)"
            ),
            {"now": now},
        )
        for i, off, outcome in ((1, True, "declined"), (2, False, "declined"), (3, False, "succeeded")):
            conn.execute(
                text(
                    "INSERT INTO sandbox_attempts (id, invoice_id, payment_method_id, brand, last4, amount_minor,"
                    " currency, off_session, outcome, created_at) VALUES (:i, 'in_1', 'pm', 'Visa', '4242', 100,"
                    " 'EUR', :off, :o, :now)"
                ),
                {"i": i, "off": off, "o": outcome, "now": now},
            )
        conn.execute(
            text("INSERT INTO poll_cursors (provider, cursor, updated_at) VALUES ('sandbox', '2', :now)"), {"now": now}
        )
    upgrade(engine)
    with engine.connect() as conn:
        events = list(conn.execute(text("SELECT id, kind, attempt_id FROM sandbox_events ORDER BY id")))
        assert [(kind, attempt) for _, kind, attempt in events] == [("payment_failed", 1), ("invoice_paid", 3)]
        cursor = conn.execute(text("SELECT cursor FROM poll_cursors WHERE provider = 'sandbox'")).scalar()
        assert cursor == str(events[0][0])  # read up to attempt 2: the paid event (attempt 3) is still to come
    engine.dispose()
