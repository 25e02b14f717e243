"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import bot.billing.sandbox.models  # noqa: F401  (the sandbox keeps its tables with the sandbox, on the same Base)
from storage.db import make_engine
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Base


def migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Bring the schema to one revision, as an older release of Settle left it (on SQLite with foreign
    keys off while tables are rebuilt, as storage.migrate does)."""
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                (command.downgrade if down else command.upgrade)(cfg, revision)
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


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
    migrate_to(engine, "0013")
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


def test_notes_and_view_ids_and_monthly_reports_move_to_their_rooms(db_url: str) -> None:
    """0014: the alert's pipe-encoded note becomes typed columns; the view ids the money service kept
    become the modal tracker's rows; a month's report row is the only workspace's; the sandbox's
    routing, once written into Settle's accounts, becomes its customers' metadata."""
    from sqlalchemy import text

    engine = make_engine(db_url)
    migrate_to(engine, "0013")
    now = "2026-11-01 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (id, name, currency, slack_channel) VALUES ('acme', 'Acme', 'EUR', 'C0ACME')")
        )
        conn.execute(
            text("INSERT INTO account_admins (account_id, slack_id, source) VALUES ('acme', 'U0ANA', 'provider')")
        )
        conn.execute(
            text("INSERT INTO account_admins (account_id, slack_id, source) VALUES ('acme', 'U0BO', 'manual')")
        )
        conn.execute(text("INSERT INTO sandbox_customers (id, name, currency) VALUES ('acme', 'Acme', 'EUR')"))
        conn.execute(
            text(
                "INSERT INTO declines (id, provider_failure_id, account_id, invoice_id, amount_minor, currency,"
                " outcome, reason, failed_at, seen_at) VALUES (1, 'f1', 'acme', 'in_1', 100, 'EUR', 'declined',"
                " 'insufficient_funds', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO alerts (id, account_id, latest_decline_id, decline_count, state, version, synced_version,"
                " post_attempts, note, note_by, created_at, updated_at) VALUES (1, 'acme', 1, 2, 'open', 3, 3, 1,"
                " 'declined|Visa ·· 9995|insufficient_funds', 'U0ANA', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO settlement_batches (id, alert_id, user_id, view_id, payment_method_id, card_label,"
                " make_default, created_at) VALUES (1, 1, 'U0ANA', 'V2', 'pm_1', 'Visa ·· 9995', false, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO settlements (id, alert_id, batch_id, invoice_id, account_id, user_id, view_id,"
                " payment_method_id, card_label, amount_minor, currency, make_default, idempotency_key, status,"
                " created_at, updated_at) VALUES (1, 1, 1, 'in_1', 'acme', 'U0ANA', 'V1', 'pm_1', 'Visa ·· 9995',"
                " 100, 'EUR', false, 'k1', 'declined', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(text("INSERT INTO batch_views (view_id, batch_id, user_id) VALUES ('V9', 1, 'U0BO')"))
        conn.execute(
            text(
                "INSERT INTO monthly_reports (month, claimed_at, posted_at, channel)"
                " VALUES ('2026-10', :now, :now, 'C0')"
            ),
            {"now": now},
        )
    upgrade(engine)
    with engine.connect() as conn:
        attempt = conn.execute(
            text("SELECT last_attempt, last_attempt_card, last_attempt_reason, last_attempt_by FROM alerts")
        ).one()
        assert tuple(attempt) == ("declined", "Visa ·· 9995", "insufficient_funds", "U0ANA")
        views = conn.execute(
            text("SELECT role, user_id, batch_id, view_id, root_view_id FROM modal_views ORDER BY role")
        ).all()
        assert [tuple(v) for v in views] == [
            ("chosen", "U0ANA", 1, None, "V1"),
            ("owner", "U0ANA", 1, "V2", None),
            ("watcher", "U0BO", 1, "V9", None),
        ]
        reports = conn.execute(text("SELECT month, team_id, channel FROM monthly_reports")).all()
        assert [tuple(r) for r in reports] == [("2026-10", "", "C0")]
        (meta,) = conn.execute(text("SELECT meta FROM sandbox_customers")).one()
        import json

        assert (json.loads(meta) if isinstance(meta, str) else meta) == {
            "settle_admins": "U0ANA",
            "settle_channel": "C0ACME",
        }
    migrate_to(engine, "0013", down=True)  # and back, with the note as it was
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note, note_by FROM alerts")).one() == (
            "declined|Visa ·· 9995|insufficient_funds",
            "U0ANA",
        )
    engine.dispose()
