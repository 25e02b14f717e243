"""rooms: the alert's last attempt in typed columns, modals kept by the Slack side, the monthly report
per workspace, the sandbox's customers with their routing as metadata

- alerts.note ("declined|<card>|<reason>", "unverified|<card>|") and note_by become last_attempt,
  last_attempt_card, last_attempt_reason and last_attempt_by;
- batch_views, settlement_batches.view_id and settlements.view_id move to modal_views (the handlers'
  modal tracker), so the money service keeps no Slack view ids;
- monthly_reports is keyed by month and workspace (team_id; "" with one bot token);
- sandbox_customers keep their routing as metadata (meta) and a language, as Stripe's customers do,
  and the sandbox's feed reports customer changes (sandbox_events.customer_id).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 23:00:00

"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()

    # --- the alert's last attempt ------------------------------------------------------------------
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.add_column(sa.Column("last_attempt", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_card", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_by", sa.String(length=32), nullable=True))
    rows = conn.execute(sa.text("SELECT id, note, note_by FROM alerts WHERE note IS NOT NULL")).all()
    for alert_id, note, note_by in rows:
        kind, _, rest = str(note).partition("|")
        card, _, reason = rest.partition("|")
        if kind not in ("declined", "unverified"):
            continue  # notes were keys since 0010; anything else says nothing a reader could use
        conn.execute(
            sa.text(
                "UPDATE alerts SET last_attempt = :kind, last_attempt_card = :card, last_attempt_reason = :reason,"
                " last_attempt_by = :by WHERE id = :id"
            ),
            {"kind": kind, "card": card[:64] or None, "reason": reason[:64] or None, "by": note_by, "id": alert_id},
        )
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("note_by")

    # --- modals, on the Slack side -----------------------------------------------------------------
    op.create_table(
        "modal_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("view_id", sa.String(length=32), nullable=True),
        sa.Column("root_view_id", sa.String(length=32), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_modal_views_batch_id", "modal_views", ["batch_id"])
    op.create_index("ix_modal_views_view_id", "modal_views", ["view_id"])
    op.create_index("ix_modal_views_created_at", "modal_views", ["created_at"])
    conn.execute(
        sa.text(
            "INSERT INTO modal_views (role, team_id, user_id, alert_id, batch_id, view_id, created_at)"
            " SELECT 'owner', a.team_id, b.user_id, b.alert_id, b.id, b.view_id, b.created_at"
            " FROM settlement_batches b JOIN alerts a ON a.id = b.alert_id WHERE b.view_id IS NOT NULL"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO modal_views (role, team_id, user_id, alert_id, batch_id, root_view_id, created_at)"
            " SELECT 'chosen', a.team_id, b.user_id, b.alert_id, b.id, MIN(st.view_id), b.created_at"
            " FROM settlement_batches b JOIN alerts a ON a.id = b.alert_id"
            " JOIN settlements st ON st.batch_id = b.id WHERE st.view_id IS NOT NULL"
            " GROUP BY a.team_id, b.user_id, b.alert_id, b.id, b.created_at"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO modal_views (role, team_id, user_id, alert_id, batch_id, view_id, created_at)"
            " SELECT 'watcher', a.team_id, v.user_id, b.alert_id, v.batch_id, v.view_id, b.created_at"
            " FROM batch_views v JOIN settlement_batches b ON b.id = v.batch_id JOIN alerts a ON a.id = b.alert_id"
        )
    )
    op.drop_table("batch_views")
    with op.batch_alter_table("settlement_batches") as batch_op:
        batch_op.drop_column("view_id")
    with op.batch_alter_table("settlements") as batch_op:
        batch_op.drop_column("view_id")

    # --- the monthly report, per workspace ---------------------------------------------------------
    op.create_table(
        "monthly_reports_by_team",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("team_id", sa.String(length=32), server_default="", nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("month", "team_id"),
    )
    conn.execute(
        sa.text(
            "INSERT INTO monthly_reports_by_team (month, team_id, claimed_at, posted_at, channel)"
            " SELECT month, '', claimed_at, posted_at, channel FROM monthly_reports"
        )
    )
    op.drop_table("monthly_reports")
    op.rename_table("monthly_reports_by_team", "monthly_reports")

    # --- the sandbox's customers keep their routing as metadata ------------------------------------
    with op.batch_alter_table("sandbox_customers") as batch_op:
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
    with op.batch_alter_table("sandbox_events") as batch_op:
        batch_op.alter_column("invoice_id", existing_type=sa.String(length=128), nullable=True)
        batch_op.add_column(sa.Column("customer_id", sa.String(length=64), nullable=True))
    # what the old loader wrote into Settle's accounts becomes the customers' own metadata
    customers = conn.execute(
        sa.text(
            "SELECT c.id, a.slack_channel, a.slack_team, a.locale FROM sandbox_customers c"
            " LEFT JOIN accounts a ON a.id = c.id"
        )
    ).all()
    for customer_id, channel, team, locale in customers:
        admins = conn.execute(
            sa.text(
                "SELECT slack_id FROM account_admins WHERE account_id = :id AND source = 'provider' ORDER BY slack_id"
            ),
            {"id": customer_id},
        ).scalars()
        meta = {"settle_admins": ",".join(admins)}
        if channel:
            meta["settle_channel"] = channel
        if team:
            meta["settle_team"] = team
        conn.execute(
            sa.text("UPDATE sandbox_customers SET meta = :meta, locale = :locale WHERE id = :id"),
            {"meta": json.dumps(meta), "locale": locale, "id": customer_id},
        )


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("sandbox_events") as batch_op:
        batch_op.drop_column("customer_id")
    conn.execute(sa.text("DELETE FROM sandbox_events WHERE invoice_id IS NULL"))
    with op.batch_alter_table("sandbox_events") as batch_op:
        batch_op.alter_column("invoice_id", existing_type=sa.String(length=128), nullable=False)
    with op.batch_alter_table("sandbox_customers") as batch_op:
        batch_op.drop_column("locale")
        batch_op.drop_column("meta")

    op.create_table(
        "monthly_reports_one",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("month"),
    )
    conn.execute(
        sa.text(
            "INSERT INTO monthly_reports_one (month, claimed_at, posted_at, channel)"
            " SELECT month, MIN(claimed_at), MAX(posted_at), MAX(channel) FROM monthly_reports GROUP BY month"
        )
    )
    op.drop_table("monthly_reports")
    op.rename_table("monthly_reports_one", "monthly_reports")

    with op.batch_alter_table("settlements") as batch_op:
        batch_op.add_column(sa.Column("view_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("settlement_batches") as batch_op:
        batch_op.add_column(sa.Column("view_id", sa.String(length=32), nullable=True))
    op.create_table(
        "batch_views",
        sa.Column("view_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["settlement_batches.id"]),
        sa.PrimaryKeyConstraint("view_id"),
    )
    op.create_index("ix_batch_views_batch_id", "batch_views", ["batch_id"])
    conn.execute(
        sa.text(
            "INSERT INTO batch_views (view_id, batch_id, user_id) SELECT view_id, MIN(batch_id), MIN(user_id)"
            " FROM modal_views WHERE role = 'watcher' AND view_id IS NOT NULL AND batch_id IS NOT NULL GROUP BY view_id"
        )
    )
    op.drop_table("modal_views")

    with op.batch_alter_table("alerts") as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("note_by", sa.String(length=32), nullable=True))
    conn.execute(
        sa.text(
            "UPDATE alerts SET note = last_attempt || '|' || COALESCE(last_attempt_card, '') || '|'"
            " || COALESCE(last_attempt_reason, ''), note_by = last_attempt_by WHERE last_attempt IS NOT NULL"
        )
    )
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_column("last_attempt_by")
        batch_op.drop_column("last_attempt_reason")
        batch_op.drop_column("last_attempt_card")
        batch_op.drop_column("last_attempt")
