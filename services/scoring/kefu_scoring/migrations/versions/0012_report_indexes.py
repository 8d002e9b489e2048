"""indexes of the QA reports over time (issue #12)

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0008"  # console branch: after voc 0007 and review-csat 0008; emotion-sat 0009 follows; the lead re-chains
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    # QA scores and the distribution per span: an index-only scan of the figures they read.
    op.execute(
        "CREATE INDEX ix_evaluation_report ON scoring.evaluation (created_at) "
        "INCLUDE (total_score, grade, fatal, agent_id)"
    )


def downgrade() -> None:
    op.drop_index("ix_evaluation_report", "evaluation", schema=SCHEMA)
