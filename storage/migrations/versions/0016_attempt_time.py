"""attempt time: when the latest attempt to settle an alert's balance failed (alerts.last_attempt_at),
so its "Last declined" is the later of the renewal's decline and that attempt

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 21:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_column("last_attempt_at")
