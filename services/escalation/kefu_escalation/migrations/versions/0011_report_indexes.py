"""indexes of the SLA reports over time and the "now" panels (issue #12)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "escalation"

# The same predicate as kefu_escalation.reports._BREACHED (a partial index is used only when
# the query repeats it): an open cycle holding a recorded breach that has not ended.
_BREACHED_OPEN = (
    "clock_state ->> 'stopped_at' IS NULL "
    "AND clock_state @? '$.clocks[*] ? (@[8] == true && @[9] == null)'"
)


def upgrade() -> None:
    # Attainment and escalation series: clock events of a kind in a span, with what they join on.
    op.execute(
        "CREATE INDEX ix_clock_event_report ON escalation.clock_event (kind, at) "
        "INCLUDE (ticket_id, target)"
    )
    # Clocks at risk: the breached-and-unresolved half of the candidates.
    op.execute(f"CREATE INDEX ix_clock_ticket_breached_open ON escalation.clock_ticket (ticket_id) "
               f"WHERE {_BREACHED_OPEN}")
    # Escalations waiting for acknowledgement, oldest first.
    op.execute(
        "CREATE INDEX ix_escalation_unacknowledged ON escalation.escalation (created_at, id) "
        "WHERE acknowledged_at IS NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_escalation_unacknowledged", "escalation", schema=SCHEMA)
    op.drop_index("ix_clock_ticket_breached_open", "clock_ticket", schema=SCHEMA)
    op.drop_index("ix_clock_event_report", "clock_event", schema=SCHEMA)
