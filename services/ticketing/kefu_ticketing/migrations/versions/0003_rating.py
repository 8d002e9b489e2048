"""rating: customer satisfaction (CSAT 1-5, optional NPS 0-10) per ticket cycle, one row per revision

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "ticketing"


def upgrade() -> None:
    op.create_table(
        "rating",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("ticket_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.ticket.id"), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("nps", sa.SmallInteger, nullable=True),
        sa.Column("comment", sa.String(1000), nullable=False, server_default=""),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("rater", sa.String(128), nullable=False),
        sa.Column("dissatisfied", sa.Boolean, nullable=False, server_default=sa.false()),
        # The cycle's rating that counts (its highest revision); the only column ever updated.
        sa.Column("latest", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("team", sa.String(64), nullable=False, server_default=""),
        sa.Column("agent_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("category", sa.String(64), nullable=False, server_default=""),
        sa.Column("channel", sa.String(16), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="rating_score_1_5"),
        sa.CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="rating_nps_0_10"),
        sa.CheckConstraint("source IN ('customer', 'partner')", name="rating_source_known"),
        sa.UniqueConstraint("ticket_id", "cycle", "revision", name="rating_one_revision_per_cycle"),
        schema=SCHEMA,
    )
    # Reports: the latest revision of each cycle, by when it was given.
    op.create_index(
        "ix_rating_latest_created_at", "rating", ["created_at"], schema=SCHEMA,
        postgresql_where=sa.text("latest"),
    )
    op.create_index(
        "rating_one_latest_per_cycle", "rating", ["ticket_id", "cycle"], unique=True, schema=SCHEMA,
        postgresql_where=sa.text("latest"),
    )


def downgrade() -> None:
    op.drop_table("rating", schema=SCHEMA)
