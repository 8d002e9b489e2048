"""indexes of the reports over time and the backlog panel (issue #12)

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"  # console branch: after review-csat's 0003_rating; the lead re-chains
branch_labels = None
depends_on = None

SCHEMA = "ticketing"


def upgrade() -> None:
    # Every series reads "status changes to X in a span" and joins the ticket: with the ticket id
    # in the index that is an index-only scan. It replaces ix_status_change_to_status_at (same
    # leading columns).
    op.execute(
        "CREATE INDEX ix_status_change_report ON ticketing.status_change (to_status, at) "
        "INCLUDE (ticket_id)"
    )
    op.drop_index("ix_status_change_to_status_at", "status_change", schema=SCHEMA)
    # The backlog panel reads only open tickets (a small share of a large table).
    op.execute(
        "CREATE INDEX ix_ticket_backlog ON ticketing.ticket (status, first_contact_at) "
        "WHERE status IN ('new', 'open', 'pending_customer', 'reopened')"
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_backlog", "ticket", schema=SCHEMA)
    op.create_index("ix_status_change_to_status_at", "status_change", ["to_status", "at"], schema=SCHEMA)
    op.drop_index("ix_status_change_report", "status_change", schema=SCHEMA)
