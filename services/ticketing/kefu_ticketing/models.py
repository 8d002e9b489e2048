"""Ticketing tables (schema `ticketing`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Text
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
    first_contact_at: datetime = timestamp_field()
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
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    occurred_at: datetime = timestamp_field()


class IdempotencyRecord(SQLModel, table=True):
    """One row per client request id: a retry returns the first result, writes nothing."""

    __tablename__ = "idempotency_record"
    __table_args__ = {"schema": SCHEMA}

    request_id: str = Field(primary_key=True, max_length=128)
    command: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(max_length=64)
    ticket_id: uuid.UUID
    created_at: datetime = timestamp_field()
