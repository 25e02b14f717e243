"""outbox: one table for every message Settle posts besides an alert's own, and storms as digests

- messages: replies (from alert_replies), escalations (alert_replies with a channel of their own), card
  warnings (their channel and ts move here), digests and the monthly report;
- digests, and alerts.digest_id / alerts.posted_at.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 03:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSYNCED = "version > synced_version"


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_key", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_digests_open_channel",
        "digests",
        ["team_key", "channel"],
        unique=True,
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.add_column(sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_alerts_digest_id_digests", "digests", ["digest_id"], ["id"])
        batch_op.create_index("ix_alerts_digest_id", ["digest_id"])
    conn.execute(sa.text("UPDATE alerts SET posted_at = created_at WHERE ts IS NOT NULL"))

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("warning_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("broadcast", sa.Boolean(), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("synced_version", sa.Integer(), nullable=False),
        sa.Column("post_attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"]),
        sa.ForeignKeyConstraint(["warning_id"], ["card_warnings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_alert_id", "messages", ["alert_id"])
    op.create_index("ix_messages_digest_id", "messages", ["digest_id"])
    op.create_index("ix_messages_warning_id", "messages", ["warning_id"])
    op.create_index(
        "ix_messages_unsynced",
        "messages",
        ["id"],
        sqlite_where=sa.text(UNSYNCED),
        postgresql_where=sa.text(UNSYNCED),
    )
    replies = conn.execute(
        sa.text("SELECT alert_id, kind, detail, broadcast, channel, ts, created_at FROM alert_replies ORDER BY id")
    ).all()
    messages = sa.table(
        "messages",
        sa.column("kind", sa.String),
        sa.column("alert_id", sa.Integer),
        sa.column("warning_id", sa.Integer),
        sa.column("channel", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("broadcast", sa.Boolean),
        sa.column("ts", sa.String),
        sa.column("version", sa.Integer),
        sa.column("synced_version", sa.Integer),
        sa.column("post_attempts", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    import json

    rows = []
    for alert_id, kind, detail, broadcast, channel, ts, created_at in replies:
        detail = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
        posted = ts is not None and ts != "unposted"
        rows.append(
            {
                "kind": "escalation" if channel else "reply",
                "alert_id": alert_id,
                "warning_id": None,
                "channel": channel,
                "detail": {"kind": kind, **detail},
                "broadcast": bool(broadcast),
                "ts": ts if posted else None,
                "version": 1,
                "synced_version": 1 if ts is not None else 0,  # one that could not be posted is not retried
                "post_attempts": 1 if ts is not None else 0,
                "created_at": created_at,
            }
        )
    for warning_id, channel, ts, resolved, created_at in conn.execute(
        sa.text("SELECT id, channel, ts, resolved_at, created_at FROM card_warnings ORDER BY id")
    ).all():
        if ts is None and resolved is not None:
            continue  # never posted, and over: nothing to tell
        rows.append(
            {
                "kind": "card_warning",
                "alert_id": None,
                "warning_id": warning_id,
                "channel": channel,
                "detail": {},
                "broadcast": False,
                "ts": ts,
                "version": 1,
                "synced_version": 1 if ts is not None else 0,
                "post_attempts": 1 if ts is not None else 0,
                "created_at": created_at,
            }
        )
    if rows:
        op.bulk_insert(messages, rows)
    op.drop_table("alert_replies")
    with op.batch_alter_table("card_warnings") as batch_op:
        batch_op.drop_column("channel")
        batch_op.drop_column("ts")


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("card_warnings") as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("ts", sa.String(length=32), nullable=True))
    op.create_table(
        "alert_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("broadcast", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_replies_alert_id", "alert_replies", ["alert_id"])
    conn.execute(
        sa.text(
            "UPDATE card_warnings SET channel = (SELECT m.channel FROM messages m WHERE m.warning_id = card_warnings.id"
            " AND m.kind = 'card_warning'), ts = (SELECT m.ts FROM messages m WHERE m.warning_id = card_warnings.id"
            " AND m.kind = 'card_warning')"
        )
    )
    import json

    for alert_id, kind, detail, broadcast, channel, ts, created_at in conn.execute(
        sa.text(
            "SELECT alert_id, kind, detail, broadcast, channel, ts, created_at FROM messages"
            " WHERE kind IN ('reply', 'escalation') AND alert_id IS NOT NULL ORDER BY id"
        )
    ).all():
        detail = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
        reply_kind = detail.pop("kind", "update")
        conn.execute(
            sa.text(
                "INSERT INTO alert_replies (alert_id, kind, detail, broadcast, channel, ts, created_at)"
                " VALUES (:a, :k, :d, :b, :c, :t, :at)"
            ),
            {
                "a": alert_id,
                "k": reply_kind,
                "d": json.dumps(detail),
                "b": bool(broadcast),
                "c": channel if kind == "escalation" else None,
                "t": ts,
                "at": created_at,
            },
        )
    op.drop_table("messages")
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_index("ix_alerts_digest_id")
        batch_op.drop_constraint("fk_alerts_digest_id_digests", type_="foreignkey")
        batch_op.drop_column("digest_id")
        batch_op.drop_column("posted_at")
    op.drop_index("uq_digests_open_channel", table_name="digests")
    op.drop_table("digests")
