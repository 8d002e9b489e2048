"""next-update commitment kept while overdue; the window's start; the SLA snapshot of the
next cycle after a reclassification (issue #14, items 1 and 3)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "escalation"


def upgrade() -> None:
    # `next_update_due` is the timer's column (cleared once the miss has fired); the commitment
    # the customer sees stays in `next_update_by` until an update is posted (or none is owed),
    # and `next_update_since` is the start of the current window (re-timed on a reclassification).
    op.add_column("clock_ticket", sa.Column("next_update_by", sa.DateTime(timezone=True), nullable=True),
                  schema=SCHEMA)
    op.add_column("clock_ticket", sa.Column("next_update_since", sa.DateTime(timezone=True), nullable=True),
                  schema=SCHEMA)
    # The SLA snapshot a reopen's cycle gets when a severity/tier change re-resolved the matrix
    # (NULL: the ticket.created snapshot).
    op.add_column("clock_ticket", sa.Column("sla", postgresql.JSONB, nullable=True), schema=SCHEMA)
    op.execute("UPDATE escalation.clock_ticket SET next_update_by = next_update_due WHERE next_update_due IS NOT NULL")


def downgrade() -> None:
    op.drop_column("clock_ticket", "sla", schema=SCHEMA)
    op.drop_column("clock_ticket", "next_update_since", schema=SCHEMA)
    op.drop_column("clock_ticket", "next_update_by", schema=SCHEMA)
