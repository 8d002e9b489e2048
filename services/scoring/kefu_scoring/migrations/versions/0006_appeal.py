"""appeal: agents appeal hits (申诉), one open appeal per hit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "appeal",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "evaluation_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.evaluation.id"), nullable=False
        ),
        sa.Column("hit_index", sa.Integer, nullable=False),
        sa.Column("appellant", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("decided_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("decision_note", sa.String(1000), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open','upheld','rejected')", name="appeal_status_known"),
        schema=SCHEMA,
    )
    op.create_index("ix_appeal_evaluation_id", "appeal", ["evaluation_id"], schema=SCHEMA)
    op.create_index(
        "appeal_one_open_per_hit",
        "appeal",
        ["evaluation_id", "hit_index"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_table("appeal", schema=SCHEMA)
