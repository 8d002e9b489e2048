"""Gateway tables (schema `gateway`): partners and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.dialects.postgresql import ARRAY
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
