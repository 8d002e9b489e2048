"""risk signals by ticket and conversation: one escalation per conversation's risk (issue #13)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04
"""

from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Escalator._apply_signal looks up the escalation an earlier signal of the same
    # conversation raised in the cycle.
    op.execute(
        "CREATE INDEX ix_risk_signal_conversation ON escalation.risk_signal (ticket_id, conversation_id) "
        "WHERE escalation_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX escalation.ix_risk_signal_conversation")
