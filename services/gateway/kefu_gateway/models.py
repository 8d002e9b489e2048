"""Gateway tables (schema `gateway`): partners, API keys, webhooks, idempotency records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from kefu_common.models import timestamp_field

SCHEMA = "gateway"


class Partner(SQLModel, table=True):
    """A partner system (marketplace, CRM, regulator hotline) integrating through the API."""

    __tablename__ = "partner"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    active: bool = True
    created_at: datetime = timestamp_field()


class ApiKey(SQLModel, table=True):
    """A partner credential. Only a sha256 of the secret is kept; the prefix (shown in lists and
    logs) finds the row. Revoked keys stay for the audit trail."""

    __tablename__ = "api_key"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partner_id: str = Field(foreign_key=f"{SCHEMA}.partner.id", index=True, max_length=64)
    prefix: str = Field(unique=True, max_length=32)
    secret_sha256: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_type=ARRAY(Text))
    label: str = Field(default="", max_length=200)
    created_at: datetime = timestamp_field()
    revoked_at: datetime | None = timestamp_field(default=None, nullable=True)


class WebhookSubscription(SQLModel, table=True):
    """A partner's endpoint for ticket events, with the secret its payloads are signed with."""

    __tablename__ = "webhook_subscription"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partner_id: str = Field(foreign_key=f"{SCHEMA}.partner.id", index=True, max_length=64)
    url: str = Field(max_length=2048)
    secret: str = Field(max_length=128)
    event_types: list[str] = Field(default_factory=list, sa_type=ARRAY(Text))
    active: bool = True
    created_at: datetime = timestamp_field()


class PartnerTicket(SQLModel, table=True):
    __tablename__ = "partner_ticket"
    __table_args__ = {"schema": SCHEMA}

    ticket_id: uuid.UUID = Field(primary_key=True)
    partner_id: str = Field(max_length=64)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: the outbox row and, with its attempts, the log."""

    __tablename__ = "webhook_delivery"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.webhook_subscription.id")
    partner_id: str = Field(max_length=64, index=True)
    event_id: uuid.UUID
    event_type: str = Field(max_length=64)
    ticket_id: uuid.UUID
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    status: str = Field(default="pending", max_length=16)  # pending | delivered | failed | cancelled
    attempts: int = 0
    next_attempt_at: datetime | None = timestamp_field(default=None, nullable=True)
    created_at: datetime = timestamp_field()
    delivered_at: datetime | None = timestamp_field(default=None, nullable=True)


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    delivery_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.webhook_delivery.id", index=True)
    attempted_at: datetime = timestamp_field()
    status_code: int | None = None
    error: str = Field(default="", max_length=500)


class StreamCursor(SQLModel, table=True):
    __tablename__ = "stream_cursor"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(primary_key=True, max_length=64)
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = {"schema": SCHEMA}

    key: str = Field(primary_key=True, max_length=256)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = timestamp_field()
