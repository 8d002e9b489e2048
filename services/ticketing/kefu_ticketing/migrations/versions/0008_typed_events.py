"""typed ticket events (issue #15): the outbox body is a serialized kefu.ticketing.v1.Event

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

`outbox_event.payload` (JSON) becomes `outbox_event.body` (bytes: the Event without its
envelope, see kefu_ticketing/events.py). Rows written before are converted here, with the
documented JSON form's inverse (kefu_common.ticket_events.from_json), so no reader ever needs a
fallback for the old shape.
"""

import json

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.migrations import replace_column
from kefu_common.ticket_events import from_json, to_json

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "ticketing"


def _body(row) -> bytes:
    _, event_type, payload = row
    event = from_json(event_type, payload if isinstance(payload, dict) else json.loads(payload))
    event.ClearField("ticket_id")  # envelope: the row's column
    return event.SerializeToString()


def _payload(row) -> str:
    _, ticket_id, body = row
    event = ticketing_pb2.Event.FromString(body)
    event.ticket_id = str(ticket_id)
    return json.dumps(to_json(event), ensure_ascii=False)


def upgrade() -> None:
    replace_column("outbox_event", schema=SCHEMA, key="sequence", old="payload",
                   new=sa.Column("body", sa.LargeBinary()), read="event_type, payload", convert=_body)


def downgrade() -> None:
    replace_column("outbox_event", schema=SCHEMA, key="sequence", old="body",
                   new=sa.Column("payload", postgresql.JSONB()), read="ticket_id, body", convert=_payload,
                   value_sql="CAST(:v AS jsonb)")
