"""languages: an account's channel alerts are in its language

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
    # notes were English sentences; they are keys now, told in the reader's language
    op.execute("UPDATE alerts SET note = NULL WHERE note IS NOT NULL AND note NOT LIKE '%|%'")


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("locale")
