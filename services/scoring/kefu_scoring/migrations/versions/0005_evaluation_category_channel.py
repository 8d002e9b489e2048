"""evaluation.category and .channel (voice of customer), indexed with created_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.add_column(
        "evaluation", sa.Column("category", sa.String(64), nullable=False, server_default=""), schema=SCHEMA
    )
    op.add_column(
        "evaluation", sa.Column("channel", sa.String(32), nullable=False, server_default=""), schema=SCHEMA
    )
    op.create_index("ix_evaluation_created_at", "evaluation", ["created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_evaluation_created_at", "evaluation", schema=SCHEMA)
    op.drop_column("evaluation", "channel", schema=SCHEMA)
    op.drop_column("evaluation", "category", schema=SCHEMA)
