"""clock state snapshot per ticket (the timer restores it instead of replaying the history)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "escalation"


def upgrade() -> None:
    # The fold state of the ticket's current cycle as of its last clock event (clocks.encode_state),
    # written with every event, and the cycle's calendar (its spec, as cycle_opened carries it;
    # written when a cycle opens, so the timer never sends it back). The events stay the source
    # of truth. Existing rows start NULL and are filled from a replay the first time the timer
    # claims them (clocks.due_ticks) or the projection stores an event for them.
    op.add_column("clock_ticket", sa.Column("clock_state", pg.JSONB, nullable=True), schema=SCHEMA)
    op.add_column("clock_ticket", sa.Column("clock_calendar", pg.JSONB, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("clock_ticket", "clock_calendar", schema=SCHEMA)
    op.drop_column("clock_ticket", "clock_state", schema=SCHEMA)
