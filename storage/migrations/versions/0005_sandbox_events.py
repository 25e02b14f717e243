"""sandbox change feed: events for failed renewals and paid invoices; an index of unsent alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 11:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSYNCED = sa.text("version > synced_version")


def upgrade() -> None:
    op.create_table(
        "sandbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("invoice_id", sa.String(length=128), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_unsynced", ["id"], unique=False, sqlite_where=UNSYNCED, postgresql_where=UNSYNCED
        )
    # The feed so far, in attempt order: each failed renewal, each payment that paid its invoice.
    op.execute(
        """
        INSERT INTO sandbox_events (kind, invoice_id, attempt_id, created_at)
        SELECT CASE WHEN outcome = 'succeeded' THEN 'invoice_paid' ELSE 'payment_failed' END,
               invoice_id, id, created_at
        FROM sandbox_attempts
        WHERE outcome = 'succeeded' OR (off_session AND outcome IN ('declined', 'requires_action'))
        ORDER BY id
        """
    )
    # The poller's cursor was an attempt id; it becomes the last event of the attempts it had read.
    op.execute(
        """
        UPDATE poll_cursors SET cursor = CAST((
            SELECT COALESCE(MAX(e.id), 0) FROM sandbox_events e
            WHERE e.attempt_id <= CAST(poll_cursors.cursor AS INTEGER)
        ) AS VARCHAR(32))
        WHERE provider = 'sandbox'
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE poll_cursors SET cursor = CAST((
            SELECT COALESCE(MAX(e.attempt_id), 0) FROM sandbox_events e
            WHERE e.id <= CAST(poll_cursors.cursor AS INTEGER)
        ) AS VARCHAR(32))
        WHERE provider = 'sandbox'
        """
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_unsynced", sqlite_where=UNSYNCED, postgresql_where=UNSYNCED)
    op.drop_table("sandbox_events")
