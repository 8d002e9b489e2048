"""Ticketing tables (schema `ticketing`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, LargeBinary, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from kefu_common.models import timestamp_field

SCHEMA = "ticketing"


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = {"schema": SCHEMA}
    __mapper_args__ = {"eager_defaults": True}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    number: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(), unique=True, nullable=False)
    )
    status: str = Field(max_length=32)
    customer_id: str = Field(max_length=128, index=True)
    customer_name: str = Field(default="", max_length=200)
    customer_tier: str = Field(max_length=16)
    customer_sensitive: bool = False
    customer_phone: str = Field(default="", max_length=32)
    customer_email: str = Field(default="", max_length=254)
    channel: str = Field(max_length=16)
    severity: str = Field(max_length=16)
    category: str = Field(max_length=64)
    subject: str = Field(max_length=300)
    description: str = Field(default="", sa_type=Text)
    tags: list[str] = Field(default_factory=list, sa_type=ARRAY(Text))
    reopen_count: int = 0
    version: int = 1
    sla: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    assignee_id: str | None = Field(default=None, max_length=64)
    assignee_name: str = Field(default="", max_length=200)
    assignee_skill_level: int = 0
    team: str = Field(default="", max_length=64)
    created_by: str = Field(default="", max_length=128)
    first_contact_at: datetime = timestamp_field()
    first_response_at: datetime | None = timestamp_field(default=None, nullable=True)
    resolved_at: datetime | None = timestamp_field(default=None, nullable=True)
    closed_at: datetime | None = timestamp_field(default=None, nullable=True)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class StatusChange(SQLModel, table=True):
    """Every transition of a ticket, with who made it, when and why."""

    __tablename__ = "status_change"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id", index=True)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    reason: str = Field(default="", max_length=1000)
    at: datetime = timestamp_field()


class OutboxEvent(SQLModel, table=True):
    """Transactional outbox: written in the same transaction as the change it announces."""

    __tablename__ = "outbox_event"
    __table_args__ = {"schema": SCHEMA}
    __mapper_args__ = {"eager_defaults": True}

    sequence: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(), primary_key=True)
    )
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    event_type: str = Field(max_length=64)
    ticket_id: uuid.UUID = Field(index=True)
    # A serialized kefu.ticketing.v1.Event without the envelope (events.py; migration 0008).
    body: bytes = Field(sa_type=LargeBinary)
    occurred_at: datetime = timestamp_field()


class IdempotencyRecord(SQLModel, table=True):
    """One row per (command, client request id): a retry gets the stored reply, writes nothing."""

    __tablename__ = "idempotency_record"
    __table_args__ = {"schema": SCHEMA}

    request_id: str = Field(primary_key=True, max_length=128)
    command: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(max_length=64)
    ticket_id: uuid.UUID | None = None
    response: bytes = Field(default=b"", sa_type=LargeBinary)
    created_at: datetime = timestamp_field()


class Agent(SQLModel, table=True):
    """The roster routing reads: who can take which tickets."""

    __tablename__ = "agent"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    team: str = Field(default="", max_length=64)
    skill_level: int = 1
    specialist: bool = False
    active: bool = True
    direct_line: str = Field(default="", max_length=32)
    updated_at: datetime = timestamp_field()


class Contact(SQLModel, table=True):
    """A touch on the ticket: customer-initiated (inbound, 主动接触) or agent outreach."""

    __tablename__ = "contact"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id", index=True)
    direction: str = Field(max_length=16)  # inbound | outbound
    channel: str = Field(max_length=16)
    occurred_at: datetime = timestamp_field()
    summary: str = Field(default="", max_length=2000)
    actor: str = Field(default="", max_length=128)
    initial: bool = False


class ProgressEntry(SQLModel, table=True):
    """Customer-visible progress (进度): what is done, next step, promised time, owner."""

    __tablename__ = "progress_entry"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id", index=True)
    text: str = Field(max_length=4000)
    next_step: str = Field(default="", max_length=1000)
    promised_at: datetime | None = timestamp_field(default=None, nullable=True)
    owner_name: str = Field(default="", max_length=200)
    owner_direct_line: str = Field(default="", max_length=32)
    actor: str = Field(default="", max_length=128)
    created_at: datetime = timestamp_field()


class Note(SQLModel, table=True):
    """Internal note: never shown to a customer or partner."""

    __tablename__ = "note"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id", index=True)
    text: str = Field(max_length=10_000)
    actor: str = Field(default="", max_length=128)
    created_at: datetime = timestamp_field()


class Assignment(SQLModel, table=True):
    __tablename__ = "assignment"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id", index=True)
    assignee_id: str | None = Field(default=None, max_length=64)
    team: str = Field(default="", max_length=64)
    actor: str = Field(default="", max_length=128)
    reason: str = Field(default="", max_length=1000)
    at: datetime = timestamp_field()


class ProgressView(SQLModel, table=True):
    """One fetch of the case progress by the customer's app."""

    __tablename__ = "progress_view"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id")
    viewer: str = Field(default="", max_length=128)
    viewed_at: datetime = timestamp_field()


class Rating(SQLModel, table=True):
    """A customer's satisfaction rating of one ticket cycle (CSAT 1-5, optional NPS 0-10),
    written only by ratings.py. A change within the window is the next revision (a new row);
    the highest revision of a cycle counts and is the one marked `latest` (the previous
    revision's flag is cleared in the same transaction; nothing else is ever updated). Team, agent, category and channel are the ticket's
    when rated, so reports keep attributing it to who handled that cycle."""

    __tablename__ = "rating"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    ticket_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.ticket.id")
    cycle: int
    revision: int
    score: int
    nps: int | None = None
    comment: str = Field(default="", max_length=1000)
    source: str = Field(max_length=16)  # customer | partner
    rater: str = Field(max_length=128)
    dissatisfied: bool = False
    latest: bool = True
    team: str = Field(default="", max_length=64)
    agent_id: str = Field(default="", max_length=64)
    category: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=16)
    created_at: datetime = timestamp_field()
