"""ruleset: versions of rulesets published through the API

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.create_table(
        "ruleset",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column("rule_count", sa.Integer, nullable=False),
        sa.Column("published_by", sa.String(128), nullable=False, server_default=""),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("version >= 1", name="ruleset_version_positive"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("ruleset", schema=SCHEMA)
