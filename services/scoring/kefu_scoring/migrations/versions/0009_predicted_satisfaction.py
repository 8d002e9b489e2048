"""predicted satisfaction: stored with each evaluation; `predicted_detractor` signals (issue #16)

Revision ID: 0009
Revises: 0012 (0006 on main; chained after 0012 once branch reports was merged here)
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0012"  # console branch: 0006-0007 (voc)-0008 (review-csat)-0012 (reports)-0009; the lead re-chains
branch_labels = None
depends_on = None

SCHEMA = "scoring"
KINDS = "'regulator','media','legal','abuse','negative_emotion','other'"


def upgrade() -> None:
    op.add_column("evaluation", sa.Column("satisfaction", JSONB, nullable=False, server_default="{}"), schema=SCHEMA)
    op.add_column("evaluation", sa.Column("predicted_satisfaction", sa.Float, nullable=True), schema=SCHEMA)
    op.add_column(
        "evaluation", sa.Column("satisfaction_label", sa.String(16), nullable=False, server_default=""), schema=SCHEMA
    )
    op.drop_constraint("signal_kind_known", "signal_outbox", schema=SCHEMA, type_="check")
    op.create_check_constraint(
        "signal_kind_known", "signal_outbox", f"kind IN ({KINDS},'predicted_detractor')", schema=SCHEMA
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM {SCHEMA}.signal_outbox WHERE kind = 'predicted_detractor'")
    op.drop_constraint("signal_kind_known", "signal_outbox", schema=SCHEMA, type_="check")
    op.create_check_constraint("signal_kind_known", "signal_outbox", f"kind IN ({KINDS})", schema=SCHEMA)
    for column in ("satisfaction_label", "predicted_satisfaction", "satisfaction"):
        op.drop_column("evaluation", column, schema=SCHEMA)
