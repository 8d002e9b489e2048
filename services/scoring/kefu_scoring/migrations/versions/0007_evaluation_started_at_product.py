"""evaluation.started_at (when the conversation happened) and .product, for voice of customer

Existing rows take their created_at: before this revision a conversation was scored as it
happened, so that is the best known time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.add_column(
        "evaluation", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA
    )
    op.execute(f"UPDATE {SCHEMA}.evaluation SET started_at = created_at")
    op.alter_column(
        "evaluation", "started_at", nullable=False, server_default=sa.func.now(), schema=SCHEMA
    )
    op.add_column(
        "evaluation", sa.Column("product", sa.String(128), nullable=False, server_default=""), schema=SCHEMA
    )
    op.create_index("ix_evaluation_started_at", "evaluation", ["started_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_evaluation_started_at", "evaluation", schema=SCHEMA)
    op.drop_column("evaluation", "product", schema=SCHEMA)
    op.drop_column("evaluation", "started_at", schema=SCHEMA)
