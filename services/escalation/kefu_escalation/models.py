"""Escalation tables. The matrix and policies are versioned data: rows are never updated in
place; a new version is published beside the old ones, so old tickets keep what they got.

Only the configuration (written by service.py) has models. The other tables are written by raw
SQL from their one writer module (docs/escalation.md "Module map"): the inbox consumer.py, the
cursors cursors.py, clock events clocks/projector.py, ``clock_ticket`` clocks/store.py, escalations and
signals escalations/escalator.py, notifications notifications.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    """A business-hours calendar (see configuration/calendars.py for the spec format); policies name one."""

    __tablename__ = "calendar"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(primary_key=True, max_length=64)
    spec: dict[str, Any] = Field(sa_type=JSONB)
    updated_at: datetime = timestamp_field()
