"""request ids on published policy and matrix versions (idempotent publishing)

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

SCHEMA = "escalation"
TABLES = ("sla_policy", "matrix_version")


def upgrade() -> None:
    # Nullable: the versions seeded by migrations were not published through the API.
    for table in TABLES:
        op.add_column(table, sa.Column("request_id", sa.String(128), nullable=True), schema=SCHEMA)
        op.add_column(table, sa.Column("request_hash", sa.String(64), nullable=True), schema=SCHEMA)
        op.create_unique_constraint(
            f"{table}_request_id_key", table, ["request_id"], schema=SCHEMA
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(f"{table}_request_id_key", table, schema=SCHEMA, type_="unique")
        op.drop_column(table, "request_hash", schema=SCHEMA)
        op.drop_column(table, "request_id", schema=SCHEMA)
