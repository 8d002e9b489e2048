"""scorecard detail on evaluations (dimensions, fatal, N/A, emotion, risk, masked turns) and
the signal outbox for the escalation service

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def _jsonb(name: str, empty: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB, nullable=False, server_default=sa.text(f"'{empty}'::jsonb"))


def upgrade() -> None:
    for column in (
        _jsonb("dimensions", "[]"),
        sa.Column("fatal", sa.Boolean, nullable=False, server_default=sa.false()),
        _jsonb("not_applicable", "[]"),
        _jsonb("emotion", "{}"),
        sa.Column("language", sa.String(8), nullable=False, server_default="unknown"),
        _jsonb("risk_flags", "[]"),
        _jsonb("signal_ids", "[]"),
        _jsonb("turns", "[]"),
    ):
        op.add_column("evaluation", column, schema=SCHEMA)
    op.create_table(
        "signal_outbox",
        sa.Column("signal_id", sa.String(128), primary_key=True),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False, server_default="scoring"),
        sa.Column("detail", sa.String(1000), nullable=False, server_default=""),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "status IN ('pending','delivered','rejected')", name="signal_status_known"
        ),
        sa.CheckConstraint(
            "kind IN ('regulator','media','legal','abuse','negative_emotion','other')",
            name="signal_kind_known",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "signal_outbox_due",
        "signal_outbox",
        ["next_attempt_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("signal_outbox", schema=SCHEMA)
    for name in ("turns", "signal_ids", "risk_flags", "language", "emotion", "not_applicable", "fatal", "dimensions"):
        op.drop_column("evaluation", name, schema=SCHEMA)
