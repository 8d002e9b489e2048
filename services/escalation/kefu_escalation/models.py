"""Escalation tables. The matrix and policies are versioned data: rows are never updated in
place; a new version is published beside the old ones, so old tickets keep what they got."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from kefu_common.models import timestamp_field

SCHEMA = "escalation"


class SlaPolicy(SQLModel, table=True):
    __tablename__ = "sla_policy"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    name: str = Field(max_length=200)
    calendar: str = Field(default="24x7", max_length=64)
    first_response_seconds: int
    next_update_seconds: int
    resolution_seconds: int
    escalation_ack_seconds: int
    warning_percent: int = Field(default=75)
    # Absolute threshold (migration 0006): also warn this long before due, whichever is earlier.
    warning_before_seconds: int | None = Field(default=None)
    created_at: datetime = timestamp_field()
    # Set when published through the API (migration 0004): a retry returns this version.
    request_id: str | None = Field(default=None, max_length=128, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)


class MatrixVersion(SQLModel, table=True):
    __tablename__ = "matrix_version"
    __table_args__ = {"schema": SCHEMA}

    version: int = Field(primary_key=True)
    note: str = Field(default="", max_length=500)
    published_at: datetime | None = timestamp_field(default=None, nullable=True)
    request_id: str | None = Field(default=None, max_length=128, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)


class MatrixEntry(SQLModel, table=True):
    __tablename__ = "matrix_entry"
    __table_args__ = {"schema": SCHEMA}

    matrix_version: int = Field(primary_key=True, foreign_key=f"{SCHEMA}.matrix_version.version")
    tier: str = Field(primary_key=True, max_length=32)  # vip | standard | sensitive
    severity: str = Field(primary_key=True, max_length=16)  # low | normal | high | critical
    level: str = Field(max_length=4)  # L0..L3
    policy_id: str = Field(max_length=64)
    policy_version: int


class Calendar(SQLModel, table=True):
    """A business-hours calendar (see calendar.py for the spec format); policies name one."""

    __tablename__ = "calendar"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(primary_key=True, max_length=64)
    spec: dict[str, Any] = Field(sa_type=JSONB)
    updated_at: datetime = timestamp_field()


class ConsumerCursor(SQLModel, table=True):
    """How far a consumer of another service's event stream has durably processed."""

    __tablename__ = "consumer_cursor"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(primary_key=True, max_length=64)
    last_sequence: int = Field(sa_type=BigInteger)
    updated_at: datetime = timestamp_field()


class TicketEvent(SQLModel, table=True):
    """Inbox: every ticketing event, stored exactly once (keyed by its stream sequence),
    in the same transaction that advances the cursor. The SLA clock engine (issue #4)
    reads from here."""

    __tablename__ = "ticket_event"
    __table_args__ = {"schema": SCHEMA}

    sequence: int = Field(sa_type=BigInteger, primary_key=True)
    event_id: uuid.UUID = Field(unique=True)
    event_type: str = Field(max_length=64)
    ticket_id: uuid.UUID = Field(index=True)
    # The kefu.ticketing.v1.Event as received, serialized (migration 0014).
    body: bytes = Field(sa_type=LargeBinary)
    occurred_at: datetime = timestamp_field()
    received_at: datetime = timestamp_field()


class ClockEventRow(SQLModel, table=True):
    """One persisted SLA clock event (see sla_clock.ClockEvent, clocks.py). Append-only; a
    partial unique index (migration 0005) stores each warned/breached event at most once."""

    __tablename__ = "clock_event"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(default=None, sa_type=BigInteger, primary_key=True)
    ticket_id: uuid.UUID = Field(index=False)
    cycle: int
    kind: str = Field(max_length=16)
    target: str | None = Field(default=None, max_length=32)
    at: datetime = timestamp_field()
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    source_sequence: int | None = Field(default=None, sa_type=BigInteger)


class ClockTicket(SQLModel, table=True):
    """Per ticket with clocks: the row the projector and the timer lock, how far the
    projector got for it, and the next warning/breach instant (None: nothing to wait for)."""

    __tablename__ = "clock_ticket"
    __table_args__ = {"schema": SCHEMA}

    ticket_id: uuid.UUID = Field(primary_key=True)
    last_sequence: int = Field(sa_type=BigInteger)
    next_deadline: datetime | None = timestamp_field(default=None, nullable=True)
    updated_at: datetime = timestamp_field()
