"""Persistence: SQLAlchemy models (models/, one module per aggregate), engines and units of work (db),
the audit trail, leases held by one replica at a time, upserts, event de-duplication, generated
secrets, and Alembic migrations.

May import: nothing of bot/ (a test holds it), SQLAlchemy, Alembic, slack_sdk's store tables."""
