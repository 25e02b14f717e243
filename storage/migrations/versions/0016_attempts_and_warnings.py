"""attempt time and warning outcomes

- alerts.last_attempt_at: when the latest attempt to settle the balance failed, so its "Last declined"
  is the later of the renewal's decline and that attempt;
- card_warnings.resolved_how: "replaced" (the account renews on another card) or "declined" (the
  renewal was declined on the card after all: its alert says the rest);
- alert_invoices.ending_how / ending_by: an ending from Slack (paid another way, void, write off)
  claims the invoice before the provider is asked, so no charge is confirmed beside it and the
  provider's own event of it is recorded as the admin's.

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
    with op.batch_alter_table("card_warnings") as batch_op:
        batch_op.add_column(sa.Column("resolved_how", sa.String(length=16), nullable=True))
    op.execute("UPDATE card_warnings SET resolved_how = 'replaced' WHERE resolved_at IS NOT NULL")
    with op.batch_alter_table("alert_invoices") as batch_op:
        batch_op.add_column(sa.Column("ending_how", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("ending_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_invoices") as batch_op:
        batch_op.drop_column("ending_by")
        batch_op.drop_column("ending_how")
    with op.batch_alter_table("card_warnings") as batch_op:
        batch_op.drop_column("resolved_how")
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_column("last_attempt_at")
