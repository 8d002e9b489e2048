"""tickets, status changes, outbox and idempotency records

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "ticketing"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ticket",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("number", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("customer_tier", sa.String(16), nullable=False),
        sa.Column("customer_sensitive", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("customer_phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("customer_email", sa.String(254), nullable=False, server_default=""),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("tags", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("sla", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("first_contact_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('new','open','pending_customer','resolved','closed','reopened')",
            name="ticket_status_known",
        ),
        sa.CheckConstraint("reopen_count >= 0", name="ticket_reopen_count_non_negative"),
        schema=SCHEMA,
    )
    op.create_index("ix_ticket_customer_id", "ticket", ["customer_id"], schema=SCHEMA)
    op.create_table(
        "status_change",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("ticket_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.ticket.id"), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False, server_default=""),
        sa.Column("at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_status_change_ticket_id", "status_change", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "outbox_event",
        sa.Column("sequence", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_outbox_event_ticket_id", "outbox_event", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "idempotency_record",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("command", sa.String(64), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.ticket.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("idempotency_record", schema=SCHEMA)
    op.drop_table("outbox_event", schema=SCHEMA)
    op.drop_table("status_change", schema=SCHEMA)
    op.drop_table("ticket", schema=SCHEMA)
