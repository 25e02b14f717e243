"""where people already are

- accounts.customer_channel: a channel shared with the customer (Slack Connect) where a decline is
  announced in words meant for them;
- alert_invoices.url indexed: a pasted hosted-invoice link finds its balance by it;
- morning_lists: each admin's morning list of a day, claimed once across replicas;
- user_settings: what a person chose for themselves (`/settle digest off|on`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 06:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("customer_channel", sa.String(length=32), nullable=True))
    op.create_index("ix_alert_invoices_url", "alert_invoices", ["url"])
    op.create_table(
        "morning_lists",
        sa.Column("team_id", sa.String(length=32), primary_key=True),
        sa.Column("user_id", sa.String(length=32), primary_key=True),
        sa.Column("day", sa.String(length=10), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("balances", sa.Integer(), nullable=False),
    )
    op.create_table(
        "user_settings",
        sa.Column("team_id", sa.String(length=32), primary_key=True),
        sa.Column("user_id", sa.String(length=32), primary_key=True),
        sa.Column("morning_list", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_settings")
    op.drop_table("morning_lists")
    op.drop_index("ix_alert_invoices_url", table_name="alert_invoices")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("customer_channel")
