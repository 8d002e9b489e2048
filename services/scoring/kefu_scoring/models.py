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
    # Scorecard detail (migration 0002). Every text in here is PII-masked.
    dimensions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    fatal: bool = False
    not_applicable: list[str] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    emotion: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB, nullable=False)
    language: str = Field(default="unknown", max_length=8)
    risk_flags: list[str] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    signal_ids: list[str] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    # The ticket's category and channel (migration 0005), for voice-of-customer reports.
    category: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=32)
    # The agent's team as given when scored (migration 0008), for the review queue.
    team: str = Field(default="", max_length=64)
    # When the conversation happened (migration 0007; default: when it was scored), and the
    # product it was about (free text or an id): voice of customer buckets and filters by them.
    started_at: datetime = timestamp_field(nullable=False)
    product: str = Field(default="", max_length=128)
    # Predicted satisfaction (migration 0009, satisfaction.py): {"score" 1..5, "label",
    # "turns", "customer_turns", "factors": [{"factor", "effect", "detail", "turn_index"}]};
    # {} for evaluations stored before it. The score is also a column, for reports.
    satisfaction: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB, nullable=False)
    predicted_satisfaction: float | None = None
    satisfaction_label: str = Field(default="", max_length=16)
    # The transcript as stored: [{"role", "text" (masked), "start_ms", "end_ms"}].
    turns: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    # Left unset by the service: PostgreSQL's now() fills it and the INSERT returns it.
    created_at: datetime | None = timestamp_field(
        default=None, nullable=False, sa_column_kwargs={"server_default": func.now()}
    )


class SignalOutbox(SQLModel, table=True):
    """Risk signals for the escalation service, written in the same transaction as the
    evaluation or real-time alert that raised them and delivered by the relay (signals.py).
    `signal_id` is deterministic (conversation + kind), so a retry, a replica or the
    real-time path and the final scorecard all name the same signal: it is stored and
    delivered once."""

    __tablename__ = "signal_outbox"
    __table_args__ = {"schema": SCHEMA}

    signal_id: str = Field(primary_key=True, max_length=128)
    ticket_id: str = Field(max_length=128)
    conversation_id: str = Field(default="", max_length=128)
    kind: str = Field(max_length=32)
    source: str = Field(default="scoring", max_length=64)
    detail: str = Field(default="", max_length=1000)  # PII-masked
    occurred_at: datetime = timestamp_field(nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending | delivered | rejected
    attempts: int = 0
    next_attempt_at: datetime = timestamp_field(nullable=False)
    delivered_at: datetime | None = timestamp_field(default=None, nullable=True)
    last_error: str = Field(default="", max_length=500)
    note: str = Field(default="", max_length=500)


class PublishedRuleset(SQLModel, table=True):
    """A ruleset version published through the API. Versions are immutable: scoring with
    (id, version) always means the same rules."""

    __tablename__ = "ruleset"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    name: str = Field(default="", max_length=200)
    document: dict[str, Any] = Field(sa_type=JSONB, nullable=False)
    rule_count: int
    published_by: str = Field(default="", max_length=128)
    published_at: datetime | None = timestamp_field(
        default=None, nullable=False, sa_column_kwargs={"server_default": func.now()}
    )


class HitReview(SQLModel, table=True):
    """One review decision on one hit of an evaluation (append-only: the trail). The latest
    decision per hit counts."""

    __tablename__ = "hit_review"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    evaluation_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.evaluation.id", index=True)
    hit_index: int
    decision: str = Field(max_length=16)  # confirmed | overturned
    reviewer: str = Field(max_length=128)
    note: str = Field(default="", max_length=1000)
    created_at: datetime = timestamp_field(nullable=False)


class Appeal(SQLModel, table=True):
    """An agent's appeal (申诉) against one hit; decided once by a QA reviewer."""

    __tablename__ = "appeal"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    evaluation_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.evaluation.id", index=True)
    hit_index: int
    appellant: str = Field(max_length=128)
    reason: str = Field(max_length=1000)
    status: str = Field(default="open", max_length=16)  # open | upheld | rejected
    decided_by: str = Field(default="", max_length=128)
    decision_note: str = Field(default="", max_length=1000)
    created_at: datetime = timestamp_field(nullable=False)
    decided_at: datetime | None = timestamp_field(default=None, nullable=True)
