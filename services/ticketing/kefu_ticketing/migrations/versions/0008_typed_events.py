"""typed ticket events (issue #15): the outbox body is a serialized kefu.ticketing.v1.Event

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04

`outbox_event.payload` (JSON) becomes `outbox_event.body` (bytes: the Event without its
envelope, see kefu_ticketing/events.py). Rows written before are converted here, with the
documented JSON form's inverse (kefu_common.ticket_events.from_json), so no reader ever needs a
fallback for the old shape.
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kefu_common.migrations import rewrite_rows
from kefu_common.ticket_events import from_json, to_json
from kefu.ticketing.v1 import ticketing_pb2

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "ticketing"


def _body(row) -> bytes:
    _, event_type, payload = row
    event = from_json(event_type, payload if isinstance(payload, dict) else json.loads(payload))
    event.ClearField("ticket_id")  # envelope: the row's column
    return event.SerializeToString()


def upgrade() -> None:
    op.add_column("outbox_event", sa.Column("body", sa.LargeBinary(), nullable=True), schema=SCHEMA)
    rewrite_rows(
        "SELECT sequence, event_type, payload FROM ticketing.outbox_event WHERE sequence > :after "
        "ORDER BY sequence LIMIT :lim",
        "UPDATE ticketing.outbox_event SET body = :v WHERE sequence = :s",
        _body,
    )
    op.alter_column("outbox_event", "body", nullable=False, schema=SCHEMA)
    op.drop_column("outbox_event", "payload", schema=SCHEMA)


def _payload(row) -> str:
    _, ticket_id, body = row
    event = ticketing_pb2.Event.FromString(body)
    event.ticket_id = str(ticket_id)
    return json.dumps(to_json(event), ensure_ascii=False)


def downgrade() -> None:
    op.add_column("outbox_event", sa.Column("payload", postgresql.JSONB(), nullable=True),
                  schema=SCHEMA)
    rewrite_rows(
        "SELECT sequence, ticket_id, body FROM ticketing.outbox_event WHERE sequence > :after "
        "ORDER BY sequence LIMIT :lim",
        "UPDATE ticketing.outbox_event SET payload = CAST(:v AS jsonb) WHERE sequence = :s",
        _payload,
    )
    op.alter_column("outbox_event", "payload", nullable=False, schema=SCHEMA)
    op.drop_column("outbox_event", "body", schema=SCHEMA)
