"""live conversations and their turns, for resumable real-time streams (issue #13)

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

SCHEMA = "scoring"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "live_conversation",
        sa.Column("conversation_id", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("agent_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("category", sa.String(64), nullable=False, server_default=""),
        sa.Column("channel", sa.String(32), nullable=False, server_default=""),
        sa.Column("team", sa.String(64), nullable=False, server_default=""),
        sa.Column("product", sa.String(128), nullable=False, server_default=""),
        sa.Column("started_at", TS, nullable=False),
        # open: turns stream in; ended: the evaluation is stored and the turns' texts deleted.
        sa.Column("status", sa.String(8), nullable=False, server_default="open"),
        sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("evaluation_id", sa.Uuid, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('open', 'ended')", name="live_conversation_status"),
        schema=SCHEMA,
    )
    op.create_table(
        "live_turn",
        sa.Column("conversation_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        # As spoken (unmasked, the scorecard needs it: PII read aloud) until the conversation
        # ends; then deleted in the transaction that marks it ended.
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("end_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], [f"{SCHEMA}.live_conversation.conversation_id"], ondelete="CASCADE"
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("live_turn", schema=SCHEMA)
    op.drop_table("live_conversation", schema=SCHEMA)
