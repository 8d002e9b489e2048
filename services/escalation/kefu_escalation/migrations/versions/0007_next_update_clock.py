"""next-update clock per ticket (the customer-visible progress cadence)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "escalation"


def upgrade() -> None:
    # When the next customer-visible progress entry is owed (None: nothing owed right now).
    op.add_column("clock_ticket", sa.Column("next_update_due", sa.DateTime(timezone=True), nullable=True),
                  schema=SCHEMA)
    op.execute(
        "CREATE INDEX ix_clock_ticket_next_update_due ON escalation.clock_ticket (next_update_due) "
        "WHERE next_update_due IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_clock_ticket_next_update_due", table_name="clock_ticket", schema=SCHEMA)
    op.drop_column("clock_ticket", "next_update_due", schema=SCHEMA)
