"""stripe: voided and written-off invoices close an alert; account routing set by hand

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 13:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_BEFORE = sa.text("state != 'paid'")
OPEN_NOW = sa.text("state NOT IN ('paid', 'closed')")


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mapped_channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("provider_synced_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("account_admins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="provider", nullable=False))
    with op.batch_alter_table("declines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("test_mode", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column("message", sa.String(length=500), nullable=True))
    op.create_table(
        "provider_events",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id"),
    )
    op.create_index("ix_provider_events_applied_at", "provider_events", ["applied_at"])
    # An alert closed without being paid (every invoice voided or written off) is over too.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_account_open", sqlite_where=OPEN_BEFORE, postgresql_where=OPEN_BEFORE)
        batch_op.create_index(
            "uq_alerts_account_open", ["account_id"], unique=True, sqlite_where=OPEN_NOW, postgresql_where=OPEN_NOW
        )


def downgrade() -> None:
    op.execute("UPDATE alerts SET state = 'paid' WHERE state = 'closed'")
    op.execute("UPDATE alert_invoices SET state = 'paid' WHERE state IN ('voided', 'uncollectible')")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_account_open", sqlite_where=OPEN_NOW, postgresql_where=OPEN_NOW)
        batch_op.create_index(
            "uq_alerts_account_open",
            ["account_id"],
            unique=True,
            sqlite_where=OPEN_BEFORE,
            postgresql_where=OPEN_BEFORE,
        )
    op.drop_index("ix_provider_events_applied_at", table_name="provider_events")
    op.drop_table("provider_events")
    with op.batch_alter_table("declines", schema=None) as batch_op:
        batch_op.drop_column("message")
        batch_op.drop_column("test_mode")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempt")
    with op.batch_alter_table("account_admins", schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("provider_synced_at")
        batch_op.drop_column("mapped_channel")
