"""evaluation: one stored score of one conversation, keyed by its idempotency key

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "evaluation",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("ticket_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("agent_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("ruleset_id", sa.String(64), nullable=False),
        sa.Column("ruleset_version", sa.Integer, nullable=False),
        sa.Column("total_score", sa.Double, nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column(
            "hits", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("request_id", name="evaluation_request_id_key"),
        sa.CheckConstraint("grade IN ('A','B','C','D')", name="grade_known"),
        sa.CheckConstraint("total_score >= 0", name="total_score_not_negative"),
        sa.CheckConstraint("jsonb_typeof(hits) = 'array'", name="hits_is_array"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("evaluation", schema=SCHEMA)
