"""webhook subscriptions, the delivery outbox and log, gateway idempotency records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "gateway"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("partner_id", sa.String(64), sa.ForeignKey(f"{SCHEMA}.partner.id"), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("event_types", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_subscription_partner_id", "webhook_subscription", ["partner_id"], schema=SCHEMA)
    # Which partner a ticket belongs to (from its creator), learned from ticket.created.
    op.create_table(
        "partner_ticket",
        sa.Column("ticket_id", sa.Uuid, primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "subscription_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.webhook_subscription.id"), nullable=False
        ),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.UniqueConstraint("subscription_id", "event_id", name="webhook_delivery_once_per_event"),
        sa.CheckConstraint("status IN ('pending','delivered','failed')", name="webhook_delivery_status_known"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_webhook_delivery_due", "webhook_delivery", ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"), schema=SCHEMA,
    )
    op.create_index("ix_webhook_delivery_partner_id", "webhook_delivery", ["partner_id"], schema=SCHEMA)
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("delivery_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.webhook_delivery.id"), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.String(500), nullable=False, server_default=""),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_attempt_delivery_id", "webhook_attempt", ["delivery_id"], schema=SCHEMA)
    # How far the fan-out has read the ticketing event stream.
    op.create_table(
        "stream_cursor",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        schema=SCHEMA,
    )
    # Replies of the gateway's own POSTs, for Idempotency-Key (ticket commands are kept by
    # ticketing itself).
    op.create_table(
        "idempotency_record",
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("idempotency_record", "stream_cursor", "webhook_attempt", "webhook_delivery",
                  "partner_ticket", "webhook_subscription"):
        op.drop_table(table, schema=SCHEMA)
