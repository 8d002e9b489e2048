"""Scoring tables. An evaluation is written once and never updated: re-scoring under a new
ruleset is a new evaluation, so a stored score always names the rules that produced it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from kefu_common.models import timestamp_field

SCHEMA = "scoring"


class Evaluation(SQLModel, table=True):
    __tablename__ = "evaluation"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Idempotency key, with the sha256 of the canonical request it was first used for.
    request_id: str = Field(max_length=128, unique=True)
    request_hash: str = Field(max_length=64)
    conversation_id: str = Field(default="", max_length=128)
    ticket_id: str = Field(default="", max_length=128)
    agent_id: str = Field(default="", max_length=128)
    ruleset_id: str = Field(max_length=64)
    ruleset_version: int
    total_score: float
    grade: str = Field(max_length=1)  # A | B | C | D
    hits: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    # Left unset by the service: PostgreSQL's now() fills it and the INSERT returns it.
    created_at: datetime | None = timestamp_field(
        default=None, nullable=False, sa_column_kwargs={"server_default": func.now()}
    )
