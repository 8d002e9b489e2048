"""review queue: evaluation.team, indexes for listing and filtering evaluations and appeals

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"  # console branch: chained after voc's 0007 to run both; the lead re-chains
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    op.add_column(
        "evaluation", sa.Column("team", sa.String(64), nullable=False, server_default=""), schema=SCHEMA
    )
    # Keyset order of the lists (newest first) and of the queue (oldest first), per filter.
    op.create_index("ix_evaluation_created_id", "evaluation", ["created_at", "id"], schema=SCHEMA)
    op.create_index("ix_evaluation_agent_created", "evaluation", ["agent_id", "created_at", "id"], schema=SCHEMA)
    op.create_index("ix_evaluation_team_created", "evaluation", ["team", "created_at", "id"], schema=SCHEMA)
    op.create_index(
        "ix_evaluation_ruleset_created", "evaluation", ["ruleset_id", "ruleset_version", "created_at"],
        schema=SCHEMA,
    )
    # "Has a hit of rule X": hits @> '[{"rule_id": "X"}]'.
    op.create_index(
        "ix_evaluation_hits", "evaluation", ["hits"], schema=SCHEMA, postgresql_using="gin",
        postgresql_ops={"hits": "jsonb_path_ops"},
    )
    # The review queue's fatal and risk tiers, oldest first (review_queue._TIER_SQL).
    op.create_index(
        "ix_evaluation_fatal_created", "evaluation", ["created_at", "id"], schema=SCHEMA,
        postgresql_where=sa.text("fatal"),
    )
    op.create_index(
        "ix_evaluation_risk_created", "evaluation", ["created_at", "id"], schema=SCHEMA,
        postgresql_where=sa.text("jsonb_array_length(risk_flags) > 0"),
    )
    op.create_index("ix_hit_review_evaluation_hit", "hit_review", ["evaluation_id", "hit_index"], schema=SCHEMA)
    op.create_index("ix_appeal_status_created", "appeal", ["status", "created_at", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_appeal_status_created", "appeal", schema=SCHEMA)
    op.drop_index("ix_hit_review_evaluation_hit", "hit_review", schema=SCHEMA)
    op.drop_index("ix_evaluation_risk_created", "evaluation", schema=SCHEMA)
    op.drop_index("ix_evaluation_fatal_created", "evaluation", schema=SCHEMA)
    op.drop_index("ix_evaluation_hits", "evaluation", schema=SCHEMA)
    op.drop_index("ix_evaluation_ruleset_created", "evaluation", schema=SCHEMA)
    op.drop_index("ix_evaluation_team_created", "evaluation", schema=SCHEMA)
    op.drop_index("ix_evaluation_agent_created", "evaluation", schema=SCHEMA)
    op.drop_index("ix_evaluation_created_id", "evaluation", schema=SCHEMA)
    op.drop_column("evaluation", "team", schema=SCHEMA)
