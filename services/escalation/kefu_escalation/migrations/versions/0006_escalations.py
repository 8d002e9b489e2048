"""escalations, risk signals, notifications outbox; per-ticket escalation state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "escalation"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # What the triggers read about a ticket, kept beside its clock row (filled by projection).
    for column in (
        sa.Column("level", sa.String(4), nullable=False, server_default="L0"),
        sa.Column("matrix_tier", sa.String(32), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("inbound_contacts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ack_seconds", sa.Integer, nullable=True),
        sa.Column("next_update_seconds", sa.Integer, nullable=True),
        sa.Column("calendar", sa.String(64), nullable=True),
        sa.Column("policy", sa.String(80), nullable=True),
    ):
        op.add_column("clock_ticket", column, schema=SCHEMA)

    # An absolute warning threshold beside the percentage: warn this long before the due time.
    op.add_column("sla_policy", sa.Column("warning_before_seconds", sa.Integer, nullable=True), schema=SCHEMA)

    # When each clock event was written (vs `at`, the instant it happened): timer lag, audit.
    op.add_column("clock_event", sa.Column("recorded_at", TS, nullable=False,
                                           server_default=sa.text("clock_timestamp()")), schema=SCHEMA)

    op.create_table(
        "escalation",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("trigger_key", sa.String(200), nullable=False),
        sa.Column("from_level", sa.String(4), nullable=False),
        sa.Column("to_level", sa.String(4), nullable=False),
        sa.Column("to_party", sa.String(32), nullable=False),
        sa.Column("team", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.String(1000), nullable=False, server_default=""),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("calendar", sa.String(64), nullable=False),
        sa.Column("ack_due_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'ack_breached')", name="escalation_status"),
        # The same trigger never escalates the same cycle twice (DOMAIN.md §2).
        sa.UniqueConstraint("ticket_id", "cycle", "trigger_key", name="ux_escalation_trigger"),
        schema=SCHEMA,
    )
    op.create_index("ix_escalation_ticket", "escalation", ["ticket_id", "created_at"], schema=SCHEMA)
    op.create_index("ix_escalation_listing", "escalation", ["created_at", "id"], schema=SCHEMA)
    # The acknowledgement timer claims open escalations by due time.
    op.execute(
        "CREATE INDEX ix_escalation_ack_due ON escalation.escalation (ack_due_at) "
        "WHERE status = 'open' AND ack_due_at IS NOT NULL"
    )

    op.create_table(
        "risk_signal",
        sa.Column("signal_id", sa.String(128), primary_key=True),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.String(1000), nullable=False, server_default=""),
        sa.Column("conversation_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        # pending: the ticket's clocks are not known yet; applied: decided (escalated or not).
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escalation_id", sa.Uuid, nullable=True),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        schema=SCHEMA,
    )
    op.execute(
        "CREATE INDEX ix_risk_signal_pending ON escalation.risk_signal (ticket_id) WHERE status = 'pending'"
    )

    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("dedupe_key", sa.String(240), nullable=False, unique=True),
        sa.Column("ticket_id", sa.Uuid, nullable=False),
        sa.Column("escalation_id", sa.Uuid, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notification_status"),
        schema=SCHEMA,
    )
    op.execute(
        "CREATE INDEX ix_notification_due ON escalation.notification (next_attempt_at) "
        "WHERE status = 'pending'"
    )


def downgrade() -> None:
    op.drop_table("notification", schema=SCHEMA)
    op.drop_table("risk_signal", schema=SCHEMA)
    op.drop_table("escalation", schema=SCHEMA)
    op.drop_column("clock_event", "recorded_at", schema=SCHEMA)
    op.drop_column("sla_policy", "warning_before_seconds", schema=SCHEMA)
    for name in ("level", "matrix_tier", "severity", "team", "inbound_contacts", "reopen_count",
                 "ack_seconds", "next_update_seconds", "calendar", "policy"):
        op.drop_column("clock_ticket", name, schema=SCHEMA)
