"""inbox of ticketing events and the consumer's cursor

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "escalation"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consumer_cursor",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "ticket_event",
        sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_ticket_event_ticket_id", "ticket_event", ["ticket_id", "sequence"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("ticket_event", schema=SCHEMA)
    op.drop_table("consumer_cursor", schema=SCHEMA)
