"""hit_review: QA reviewers confirm or overturn hits (append-only trail)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "hit_review",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "evaluation_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.evaluation.id"), nullable=False
        ),
        sa.Column("hit_index", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("decision IN ('confirmed','overturned')", name="review_decision_known"),
        sa.CheckConstraint("hit_index >= 0", name="review_hit_index_not_negative"),
        schema=SCHEMA,
    )
    op.create_index("ix_hit_review_evaluation_id", "hit_review", ["evaluation_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("hit_review", schema=SCHEMA)
