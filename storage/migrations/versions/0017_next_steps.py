"""next steps by the reason

- alerts.asked_customer / asked_by / asked_at: the customer was sent the payment page ("pay") or
  asked for a new card ("card") from Slack, by whom and when;
- settlements.off_session: charged with no one at the card (a scheduled retry), told to the provider
  the same way when the charge is asked again with its key;
- scheduled_retries: an admin's "Retry on…", claimed once across replicas when due;
- approval_requests: a confirmation, a retry or a "paid another way" above SETTLE_APPROVAL_ABOVE,
  waiting for another admin's approval.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 01:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.add_column(sa.Column("asked_customer", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("asked_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("settlements") as batch_op:
        batch_op.add_column(sa.Column("off_session", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.create_table(
        "scheduled_retries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("scheduled_by", sa.String(length=32), nullable=False),
        sa.Column("payment_method_id", sa.String(length=128), nullable=False),
        sa.Column("card_label", sa.String(length=64), nullable=False),
        sa.Column("invoice_ids", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("settlement_batches.id"), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_scheduled_retries_alert_id", "scheduled_retries", ["alert_id"])
    op.create_index("ix_scheduled_retries_due", "scheduled_retries", ["status", "due_at"])
    op.create_index(
        "uq_scheduled_retries_one_per_alert",
        "scheduled_retries",
        ["alert_id"],
        unique=True,
        sqlite_where=sa.text("status = 'scheduled'"),
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("settlement_batches.id"), nullable=True, unique=True),
        sa.Column("retry_id", sa.Integer(), sa.ForeignKey("scheduled_retries.id"), nullable=True, unique=True),
        sa.Column("make_default", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("shown", sa.String(length=16), nullable=True),
        sa.Column("card_label", sa.String(length=64), nullable=True),
        sa.Column("amounts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_approval_requests_alert_id", "approval_requests", ["alert_id"])
    op.create_index("ix_approval_requests_pending", "approval_requests", ["status", "expires_at"])
    op.create_index(
        "ix_approval_requests_unfinished",
        "approval_requests",
        ["decided_at"],
        sqlite_where=sa.text("status = 'approved' AND outcome IS NULL"),
        postgresql_where=sa.text("status = 'approved' AND outcome IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_approval_requests_unfinished", table_name="approval_requests")
    op.drop_index("ix_approval_requests_pending", table_name="approval_requests")
    op.drop_index("ix_approval_requests_alert_id", table_name="approval_requests")
    op.drop_table("approval_requests")
    op.drop_index("uq_scheduled_retries_one_per_alert", table_name="scheduled_retries")
    op.drop_index("ix_scheduled_retries_due", table_name="scheduled_retries")
    op.drop_index("ix_scheduled_retries_alert_id", table_name="scheduled_retries")
    op.drop_table("scheduled_retries")
    with op.batch_alter_table("settlements") as batch_op:
        batch_op.drop_column("off_session")
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_column("asked_at")
        batch_op.drop_column("asked_by")
        batch_op.drop_column("asked_customer")
