"""balances: one alert per account's open balance, its invoices, thread replies, settlement batches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state != 'paid'")


def upgrade() -> None:
    op.create_table(
        "alert_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("latest_decline_id", sa.Integer(), nullable=False),
        sa.Column("decline_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_by", sa.String(length=32), nullable=True),
        sa.Column("paid_with", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.ForeignKeyConstraint(["latest_decline_id"], ["declines.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invoice_id"),
    )
    with op.batch_alter_table("alert_invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_invoices_alert_id"), ["alert_id"], unique=False)
    op.create_table(
        "alert_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("broadcast", sa.Boolean(), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_replies_alert_id"), ["alert_id"], unique=False)
    op.create_table(
        "settlement_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("view_id", sa.String(length=32), nullable=True),
        sa.Column("payment_method_id", sa.String(length=128), nullable=False),
        sa.Column("card_label", sa.String(length=64), nullable=False),
        sa.Column("make_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_batches_alert_id"), ["alert_id"], unique=False)
    op.create_table(
        "batch_views",
        sa.Column("view_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["settlement_batches.id"]),
        sa.PrimaryKeyConstraint("view_id"),
    )
    with op.batch_alter_table("batch_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_views_batch_id"), ["batch_id"], unique=False)

    # Each alert so far was one invoice: it becomes that alert's one AlertInvoice.
    op.execute(
        """
        INSERT INTO alert_invoices (alert_id, invoice_id, amount_minor, currency, description, url,
            latest_decline_id, decline_count, state, paid_at, paid_by, paid_with, created_at)
        SELECT a.id, a.invoice_id, d.amount_minor, d.currency, a.invoice_description, a.invoice_url,
            a.latest_decline_id, a.decline_count, CASE WHEN a.state = 'paid' THEN 'paid' ELSE 'open' END,
            a.paid_at, a.paid_by, a.paid_with, a.created_at
        FROM alerts a JOIN declines d ON d.id = a.latest_decline_id
        """
    )
    # An account with several open alerts keeps its oldest; the others' invoices move into it (their
    # old messages stay as they were) and they are closed, so one open alert per account holds.
    op.execute(
        """
        UPDATE alert_invoices SET alert_id = (
            SELECT MIN(k.id) FROM alerts k, alerts o
            WHERE o.id = alert_invoices.alert_id AND k.account_id = o.account_id AND k.state != 'paid'
        )
        WHERE alert_id IN (SELECT id FROM alerts WHERE state != 'paid')
        """
    )
    op.execute(
        """
        UPDATE alerts SET version = version + 1
        WHERE state != 'paid' AND id IN (SELECT alert_id FROM alert_invoices GROUP BY alert_id HAVING COUNT(*) > 1)
        """
    )
    op.execute(
        """
        UPDATE alerts SET state = 'paid'
        WHERE state != 'paid' AND id NOT IN (SELECT alert_id FROM alert_invoices)
        """
    )

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("invoice_id")
        batch_op.drop_column("invoice_description")
        batch_op.drop_column("invoice_url")
        batch_op.create_index(
            "uq_alerts_account_open", ["account_id"], unique=True, sqlite_where=OPEN, postgresql_where=OPEN
        )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_settlements_batch_id"), ["batch_id"], unique=False)
        batch_op.create_foreign_key("fk_settlements_batch_id", "settlement_batches", ["batch_id"], ["id"])
    with op.batch_alter_table("sandbox_payment_methods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
    # A settlement from before batches becomes a batch of its own, so it is reconciled like the rest.
    op.execute(
        """
        INSERT INTO settlement_batches (alert_id, user_id, view_id, payment_method_id, card_label, make_default,
            created_at)
        SELECT alert_id, user_id, 'legacy-' || CAST(id AS VARCHAR(20)), payment_method_id, card_label, make_default,
            created_at
        FROM settlements WHERE batch_id IS NULL
        """
    )
    op.execute(
        """
        UPDATE settlements SET batch_id = (
            SELECT b.id FROM settlement_batches b WHERE b.view_id = 'legacy-' || CAST(settlements.id AS VARCHAR(20))
        )
        WHERE batch_id IS NULL
        """
    )
    op.execute(
        """
        UPDATE settlement_batches SET view_id = (
            SELECT s.view_id FROM settlements s WHERE s.batch_id = settlement_batches.id
        )
        WHERE view_id LIKE 'legacy-%'
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_payment_methods", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_constraint("fk_settlements_batch_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_settlements_batch_id"))
        batch_op.drop_column("batch_id")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_account_open", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.add_column(sa.Column("invoice_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("invoice_description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("invoice_id", sa.String(length=128), nullable=True))
    # An alert takes back its first invoice; a balance of several cannot be split back into alerts.
    op.execute(
        """
        UPDATE alerts SET
            invoice_id = (SELECT MIN(i.invoice_id) FROM alert_invoices i WHERE i.alert_id = alerts.id),
            invoice_description = COALESCE(
                (SELECT MIN(i.description) FROM alert_invoices i WHERE i.alert_id = alerts.id), ''),
            invoice_url = (SELECT MIN(i.url) FROM alert_invoices i WHERE i.alert_id = alerts.id)
        """
    )
    op.execute("UPDATE alerts SET invoice_id = 'alert_' || CAST(id AS VARCHAR(20)) WHERE invoice_id IS NULL")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("invoice_id", existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint("uq_alerts_invoice_id", ["invoice_id"])
    op.drop_table("batch_views")
    op.drop_table("settlement_batches")
    op.drop_table("alert_replies")
    op.drop_table("alert_invoices")
