"""Request and response bodies of the public API (`XCreate` in, `XPublic` out)."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kefu.common.v1 import types_pb2
from kefu_common.protoconv import enum_choices


def _str_enum(name: str, proto_enum: object, *, upper: bool = False) -> type[enum.StrEnum]:
    values = [v.upper() if upper else v for v in enum_choices(proto_enum)]
    return enum.StrEnum(name, {v.upper(): v for v in values})  # type: ignore[return-value]


Channel = _str_enum("Channel", types_pb2.Channel)
Severity = _str_enum("Severity", types_pb2.Severity)
CustomerTier = _str_enum("CustomerTier", types_pb2.CustomerTier)
EscalationLevel = _str_enum("EscalationLevel", types_pb2.EscalationLevel, upper=True)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CustomerCreate(Strict):
    id: str = Field(min_length=1, max_length=128, examples=["C-10086"])
    name: str = Field(default="", max_length=200, examples=["王女士"])
    tier: CustomerTier = Field(default=CustomerTier("standard"))  # type: ignore[arg-type]
    sensitive: bool = Field(
        default=False, description="High-risk customer (media, detractor, repeat complainer)"
    )
    phone: str = Field(default="", max_length=32, examples=["+86 138 0013 8000"])
    email: str = Field(default="", max_length=254)


class TicketCreate(Strict):
    customer: CustomerCreate
    channel: Channel  # type: ignore[valid-type]
    severity: Severity  # type: ignore[valid-type]
    category: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z_]+$",
        description="product, quality, logistics, refund, billing, service_attitude or other",
        examples=["quality"],
    )
    subject: str = Field(min_length=1, max_length=300, examples=["电视开机黑屏"])
    description: str = Field(default="", max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    first_contact_at: AwareDatetime | None = Field(
        default=None,
        description="When the customer first reported the problem (defaults to now); "
        "SLA clocks start here",
    )


class CustomerPublic(BaseModel):
    id: str
    name: str
    tier: CustomerTier  # type: ignore[valid-type]
    sensitive: bool
    phone: str
    email: str


class SlaTargetPublic(BaseModel):
    name: str = Field(examples=["first_response"])
    duration_seconds: int
    due_at: datetime | None = Field(description="Absent for recurring targets (next_update)")


class SlaPublic(BaseModel):
    level: EscalationLevel  # type: ignore[valid-type]
    policy_id: str
    policy_version: int
    policy_name: str
    matrix_version: int
    matrix_tier: str
    calendar: str
    targets: list[SlaTargetPublic]


class TicketPublic(BaseModel):
    id: str
    number: int
    status: str
    customer: CustomerPublic
    channel: Channel  # type: ignore[valid-type]
    severity: Severity  # type: ignore[valid-type]
    category: str
    subject: str
    description: str
    tags: list[str]
    reopen_count: int
    version: int
    first_contact_at: datetime
    created_at: datetime
    updated_at: datetime
    sla: SlaPublic | None


class Role(enum.StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    BOT = "bot"


class TurnCreate(Strict):
    role: Role
    text: str = Field(max_length=10_000)
    start_ms: int | None = Field(default=None, ge=0)
    end_ms: int | None = Field(default=None, ge=0)


class EvaluationCreate(Strict):
    conversation_id: str = Field(default="", max_length=128)
    ticket_id: str = Field(default="", max_length=64)
    agent_id: str = Field(default="", max_length=128)
    turns: list[TurnCreate] = Field(min_length=1, max_length=2000)


class HitPublic(BaseModel):
    rule_id: str
    rule_version: int
    dimension: str
    turn_index: int
    start: int
    end: int
    matched_text: str
    points: float


class EvaluationPublic(BaseModel):
    id: str
    conversation_id: str
    ticket_id: str
    agent_id: str
    ruleset_id: str
    ruleset_version: int
    total_score: float
    grade: str
    hits: list[HitPublic]
    created_at: datetime


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
