"""webhook deliveries of a deleted subscription are cancelled

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "gateway"


def upgrade() -> None:
    op.drop_constraint("webhook_delivery_status_known", "webhook_delivery", schema=SCHEMA)
    op.create_check_constraint(
        "webhook_delivery_status_known", "webhook_delivery",
        "status IN ('pending','delivered','failed','cancelled')", schema=SCHEMA,
    )


def downgrade() -> None:
    op.execute(f"UPDATE {SCHEMA}.webhook_delivery SET status = 'failed' WHERE status = 'cancelled'")
    op.drop_constraint("webhook_delivery_status_known", "webhook_delivery", schema=SCHEMA)
    op.create_check_constraint(
        "webhook_delivery_status_known", "webhook_delivery",
        "status IN ('pending','delivered','failed')", schema=SCHEMA,
    )
