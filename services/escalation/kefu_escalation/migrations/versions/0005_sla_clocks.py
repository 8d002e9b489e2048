"""persisted SLA clock events and the per-ticket clock row (timer and lock)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "escalation"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clock_event",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(32), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("details", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("source_sequence", sa.BigInteger, nullable=True),
        schema=SCHEMA,
    )
    op.create_index("ix_clock_event_ticket", "clock_event", ["ticket_id", "id"], schema=SCHEMA)
    # A warning or a breach is stored at most once per ticket, cycle and target, whoever
    # (which replica, which retry) computes it.
    op.execute(
        "CREATE UNIQUE INDEX ux_clock_event_fired ON escalation.clock_event "
        "(ticket_id, cycle, coalesce(target, ''), kind) WHERE kind IN ('warned', 'breached')"
    )
    # One row per ticket with clocks: the lock the projector and the timer take, how far the
    # projector got for this ticket, and the next warning/breach instant the timer waits for.
    op.create_table(
        "clock_ticket",
        sa.Column("ticket_id", sa.Uuid, primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("next_deadline", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.execute(
        "CREATE INDEX ix_clock_ticket_next_deadline ON escalation.clock_ticket (next_deadline) "
        "WHERE next_deadline IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("clock_ticket", schema=SCHEMA)
    op.drop_table("clock_event", schema=SCHEMA)
