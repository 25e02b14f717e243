"""app home: who opened it, so it is published again when balances change

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 13:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_viewers",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_home_viewers_opened_at", "home_viewers", ["opened_at"])


def downgrade() -> None:
    op.drop_index("ix_home_viewers_opened_at", table_name="home_viewers")
    op.drop_table("home_viewers")
