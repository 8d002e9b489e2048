"""ticket lifecycle: owner, contacts, progress, notes, views, agents, stored replies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "ticketing"
TS = sa.DateTime(timezone=True)


def _fk() -> sa.ForeignKey:
    return sa.ForeignKey(f"{SCHEMA}.ticket.id")


def upgrade() -> None:
    for column in (
        sa.Column("assignee_id", sa.String(64), nullable=True),
        sa.Column("assignee_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("assignee_skill_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("team", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("first_response_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
    ):
        op.add_column("ticket", column, schema=SCHEMA)
    op.create_index("ix_ticket_assignee_id", "ticket", ["assignee_id"], schema=SCHEMA)
    op.create_index("ix_ticket_updated_at", "ticket", ["updated_at", "id"], schema=SCHEMA)
    op.create_index("ix_ticket_created_at", "ticket", ["created_at"], schema=SCHEMA)
    op.create_index(
        "ix_ticket_reopen_lookup", "ticket", ["customer_id", "category", "resolved_at"], schema=SCHEMA
    )
    op.create_index("ix_status_change_to_status_at", "status_change", ["to_status", "at"], schema=SCHEMA)

    op.alter_column("idempotency_record", "ticket_id", nullable=True, schema=SCHEMA)
    op.add_column(
        "idempotency_record",
        sa.Column("response", sa.LargeBinary, nullable=False, server_default=sa.text("''::bytea")),
        schema=SCHEMA,
    )

    op.create_table(
        "agent",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("team", sa.String(64), nullable=False, server_default=""),
        sa.Column("skill_level", sa.Integer, nullable=False, server_default="1"),
        sa.Column("specialist", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("direct_line", sa.String(32), nullable=False, server_default=""),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("skill_level BETWEEN 1 AND 5", name="agent_skill_level_range"),
        schema=SCHEMA,
    )
    op.create_table(
        "contact",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("ticket_id", sa.Uuid, _fk(), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("summary", sa.String(2000), nullable=False, server_default=""),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("initial", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint("direction IN ('inbound','outbound')", name="contact_direction_known"),
        schema=SCHEMA,
    )
    op.create_index("ix_contact_ticket_id", "contact", ["ticket_id", "direction"], schema=SCHEMA)
    op.create_table(
        "progress_entry",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("ticket_id", sa.Uuid, _fk(), nullable=False),
        sa.Column("text", sa.String(4000), nullable=False),
        sa.Column("next_step", sa.String(1000), nullable=False, server_default=""),
        sa.Column("promised_at", TS, nullable=True),
        sa.Column("owner_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("owner_direct_line", sa.String(32), nullable=False, server_default=""),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_progress_entry_ticket_id", "progress_entry", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "note",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("ticket_id", sa.Uuid, _fk(), nullable=False),
        sa.Column("text", sa.String(10_000), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_note_ticket_id", "note", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "assignment",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("ticket_id", sa.Uuid, _fk(), nullable=False),
        sa.Column("assignee_id", sa.String(64), nullable=True),
        sa.Column("team", sa.String(64), nullable=False, server_default=""),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("reason", sa.String(1000), nullable=False, server_default=""),
        sa.Column("at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_assignment_ticket_id", "assignment", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "progress_view",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("ticket_id", sa.Uuid, _fk(), nullable=False),
        sa.Column("viewer", sa.String(128), nullable=False, server_default=""),
        sa.Column("viewed_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_progress_view_ticket_viewed", "progress_view", ["ticket_id", "viewed_at"], schema=SCHEMA
    )
    # Tickets created before contacts existed: their creating contact, so metrics count it.
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.contact (id, ticket_id, direction, channel, occurred_at, initial)
        SELECT gen_random_uuid(), id, 'inbound', channel, first_contact_at, true
        FROM {SCHEMA}.ticket
        """
    )


def downgrade() -> None:
    for table in ("progress_view", "assignment", "note", "progress_entry", "contact", "agent"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("idempotency_record", "response", schema=SCHEMA)
    op.drop_index("ix_status_change_to_status_at", "status_change", schema=SCHEMA)
    op.drop_index("ix_ticket_reopen_lookup", "ticket", schema=SCHEMA)
    op.drop_index("ix_ticket_updated_at", "ticket", schema=SCHEMA)
    op.drop_index("ix_ticket_created_at", "ticket", schema=SCHEMA)
    op.drop_index("ix_ticket_assignee_id", "ticket", schema=SCHEMA)
    for column in (
        "closed_at", "resolved_at", "first_response_at", "created_by", "team",
        "assignee_skill_level", "assignee_name", "assignee_id",
    ):
        op.drop_column("ticket", column, schema=SCHEMA)
