"""card warnings before a renewal: the sandbox's renewal dates, warnings posted once, scan claims

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 14:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sandbox_customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renews_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("renewal_amount_minor", sa.BigInteger(), nullable=True))
    op.create_table(
        "card_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("payment_method_id", sa.String(length=128), nullable=False),
        sa.Column("renews_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("card_label", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_card_warnings_once", "card_warnings", ["account_id", "payment_method_id", "renews_on"], unique=True
    )
    op.create_table(
        "scan_claims",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scan_claims")
    op.drop_index("uq_card_warnings_once", table_name="card_warnings")
    op.drop_table("card_warnings")
    with op.batch_alter_table("sandbox_customers", schema=None) as batch_op:
        batch_op.drop_column("renewal_amount_minor")
        batch_op.drop_column("renews_on")
