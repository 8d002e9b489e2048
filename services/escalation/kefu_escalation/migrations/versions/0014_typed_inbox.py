"""typed ticket events in the inbox (issue #15): `ticket_event.body` is the received
kefu.ticketing.v1.Event, serialized

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

`ticket_event.payload` (JSON) becomes `ticket_event.body` (bytes); rows stored before are
converted here (kefu_common.ticket_events.from_json), so the projector reads one shape only.
"""

import json

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.migrations import replace_column
from kefu_common.protoconv import to_timestamp
from kefu_common.ticket_events import from_json, to_json

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SCHEMA = "escalation"


def _body(row) -> bytes:
    sequence, event_id, event_type, ticket_id, occurred_at, payload = row
    event = from_json(event_type, payload if isinstance(payload, dict) else json.loads(payload))
    event.sequence, event.event_id, event.type, event.ticket_id = sequence, str(event_id), event_type, str(ticket_id)
    event.occurred_at.CopyFrom(to_timestamp(occurred_at))
    return event.SerializeToString()


def upgrade() -> None:
    replace_column("ticket_event", schema=SCHEMA, key="sequence", old="payload",
                   new=sa.Column("body", sa.LargeBinary()),
                   read="event_id, event_type, ticket_id, occurred_at, payload", convert=_body)


def downgrade() -> None:
    replace_column("ticket_event", schema=SCHEMA, key="sequence", old="body",
                   new=sa.Column("payload", postgresql.JSONB()), read="body", value_sql="CAST(:v AS jsonb)",
                   convert=lambda row: json.dumps(to_json(ticketing_pb2.Event.FromString(row[1])), ensure_ascii=False))
