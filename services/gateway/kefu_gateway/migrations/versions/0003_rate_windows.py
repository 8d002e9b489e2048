"""shared fixed-window counters: request quotas and failed-authentication throttles

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

SCHEMA = "gateway"


def upgrade() -> None:
    # One row per (counter name, window): every gateway replica counts in the same row, so a
    # published quota holds across replicas (kefu_gateway.ratelimit).
    op.create_table(
        "rate_window",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_rate_window_window_start", "rate_window", ["window_start"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_rate_window_window_start", table_name="rate_window", schema=SCHEMA)
    op.drop_table("rate_window", schema=SCHEMA)
