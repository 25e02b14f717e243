"""follow-up: reminders, escalation, snooze and assignee on alerts; replies posted elsewhere; the
monthly report's claim

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 14:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminders_sent", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("snoozed_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("assignee", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("assigned_by", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_alerts_remind_at", ["remind_at"], unique=False)
        batch_op.create_index("ix_alerts_escalate_at", ["escalate_at"], unique=False)
    with op.batch_alter_table("alert_replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
    op.create_table(
        "monthly_reports",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("month"),
    )
    # Balances open at the upgrade are followed up from now on with the default delays, not all at
    # once for their past (a month-old alert is not escalated the minute Settle is upgraded).
    alerts = sa.table(
        "alerts",
        sa.column("state", sa.String),
        sa.column("remind_at", sa.DateTime(timezone=True)),
        sa.column("escalate_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        remind, escalate = sa.text("now() + interval '1 day'"), sa.text("now() + interval '3 days'")
    else:
        remind, escalate = sa.text("datetime('now', '+1 day')"), sa.text("datetime('now', '+3 days')")
    op.execute(
        alerts.update().where(alerts.c.state.not_in(("paid", "closed"))).values(remind_at=remind, escalate_at=escalate)
    )


def downgrade() -> None:
    op.drop_table("monthly_reports")
    with op.batch_alter_table("alert_replies", schema=None) as batch_op:
        batch_op.drop_column("channel")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_escalate_at")
        batch_op.drop_index("ix_alerts_remind_at")
        for column in (
            "assigned_by",
            "assignee",
            "snoozed_by",
            "snoozed_until",
            "reminders_sent",
            "escalated_at",
            "escalate_at",
            "remind_at",
        ):
            batch_op.drop_column(column)
