"""Request and response bodies of the public API (`XCreate` in, `XPublic` out)."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.timestamps import UtcDateTime
from kefu_common.protoconv import enum_choices
from kefu_gateway.export import ExportQuery


def _str_enum(name: str, proto_enum: object, *, upper: bool = False) -> type[enum.StrEnum]:
    values = [v.upper() if upper else v for v in enum_choices(proto_enum)]
    return enum.StrEnum(name, {v.upper(): v for v in values})  # type: ignore[return-value]


Channel = _str_enum("Channel", types_pb2.Channel)
Severity = _str_enum("Severity", types_pb2.Severity)
CustomerTier = _str_enum("CustomerTier", types_pb2.CustomerTier)
EscalationLevel = _str_enum("EscalationLevel", types_pb2.EscalationLevel, upper=True)
TicketStatus = _str_enum("TicketStatus", ticketing_pb2.TicketStatus)
ContactDirection = _str_enum("ContactDirection", ticketing_pb2.ContactDirection)


class MetricsGroupBy(enum.StrEnum):
    NONE = "none"
    TEAM = "team"
    AGENT = "agent"
    CATEGORY = "category"
    CHANNEL = "channel"


_CATEGORY_PATTERN = r"^[a-z_]+$"
_CATEGORY_HELP = "product, quality, logistics, refund, billing, service_attitude or other"


def _storable(value: Any) -> Any:
    """Text must be storable as PostgreSQL text and encodable as protobuf strings."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, list | tuple):
        for item in value:
            _storable(item)
    return value


class SafeInput(BaseModel):
    """Base of every request body and query model: rejects text no service could store."""

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_storable(cls, value: Any) -> Any:
        return _storable(value)


class Strict(SafeInput):
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
    team: str = Field(
        default="",
        max_length=64,
        description="Team queue; high-risk tickets are routed to a specialist regardless",
    )


class TicketUpdate(Strict):
    """Only the fields present change; `tags`, when present, replaces the whole list."""

    subject: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    severity: Severity | None = None  # type: ignore[valid-type]
    category: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=_CATEGORY_PATTERN,
        description=_CATEGORY_HELP,
    )
    tags: list[str] | None = Field(default=None, max_length=20)
    customer_tier: CustomerTier | None = Field(  # type: ignore[valid-type]
        default=None, description="The customer's tier; with severity and the risk flag it picks the "
        "SLA matrix cell, re-resolved on change (a higher cell escalates and tightens the open cycle)")
    customer_sensitive: bool | None = Field(default=None, description="High-risk customer flag")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        # Absent means "leave as is"; an explicit null would be ambiguous, so it is refused.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class TicketQuery(SafeInput, ExportQuery):
    """Filters of the ticket list; every filter narrows the result."""

    model_config = ConfigDict(extra="forbid")

    status: list[TicketStatus] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Any of these statuses (repeat the parameter)"
    )
    customer_id: str | None = Field(default=None, min_length=1, max_length=128)
    assignee_id: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, min_length=1, max_length=64)
    category: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=_CATEGORY_PATTERN
    )
    channel: Channel | None = None  # type: ignore[valid-type]
    severity: Severity | None = None  # type: ignore[valid-type]
    updated_since: AwareDatetime | None = Field(
        default=None, description="Only tickets changed at or after this instant"
    )
    q: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="Text search (staff only): every word must occur in the subject, description, "
        "customer-visible progress or the customer's own words (inbound contacts); "
        "case-insensitive substring, so Chinese needs no spaces. Internal notes are not searched",
    )
    page_size: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="`next_cursor` of the previous page"
    )


class ReopenCandidatesQuery(SafeInput):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    category: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=_CATEGORY_PATTERN,
        description="Only this category (any when left out)",
    )
    window_days: int | None = Field(
        default=None, ge=1, le=365,
        description="Look-back window; the service default when left out",
    )


class AssignmentCreate(Strict):
    assignee_id: str | None = Field(
        min_length=1, max_length=64,
        description="A known active agent; null to unassign (the ticket stays in its team queue)",
    )
    team: str = Field(default="", max_length=64, description="Defaults to the assignee's team")
    reason: str = Field(default="", max_length=1000)


class StatusChangeCreate(Strict):
    reason: str = Field(default="", max_length=1000)


class ReopenCreate(Strict):
    reason: str = Field(default="", max_length=1000)
    contact_channel: Channel | None = Field(  # type: ignore[valid-type]
        default=None, description="The customer's contact that brought the problem back, if any"
    )
    contact_summary: str = Field(default="", max_length=2000)


class ContactCreate(Strict):
    direction: ContactDirection = Field(  # type: ignore[valid-type]
        description="inbound: customer-initiated (a proactive contact); outbound: a callback"
    )
    channel: Channel  # type: ignore[valid-type]
    occurred_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    summary: str = Field(default="", max_length=2000)


class ProgressCreate(Strict):
    text: str = Field(min_length=1, max_length=4000, examples=["已联系物流公司核实包裹位置"])
    next_step: str = Field(default="", max_length=1000)
    promised_at: AwareDatetime | None = Field(
        default=None, description="When the next step was promised to the customer"
    )
    owner_name: str = Field(
        default="", max_length=200, description="Defaults to the assignee's name"
    )
    owner_direct_line: str = Field(default="", max_length=32, examples=["+86 10 8888 0001"])


class NoteCreate(Strict):
    text: str = Field(min_length=1, max_length=10_000)


class AgentCreate(Strict):
    """Creates the agent, or replaces every field of an existing one with the same id."""

    id: str = Field(min_length=1, max_length=64, examples=["A-007"])
    name: str = Field(min_length=1, max_length=200, examples=["李专员"])
    team: str = Field(default="", max_length=64, examples=["east"])
    skill_level: int = Field(
        default=1, ge=1, le=5, description="1 (new) .. 5 (senior); high-risk tickets need >= 4"
    )
    specialist: bool = False
    active: bool = True
    direct_line: str = Field(default="", max_length=32)


class CustomerPublic(BaseModel):
    id: str
    name: str
    tier: CustomerTier  # type: ignore[valid-type]
    sensitive: bool | None = Field(
        description="High-risk customer (media, regulator, detractor). Staff only: null for partners"
    )
    phone: str
    email: str


class SlaTargetPublic(BaseModel):
    name: str = Field(examples=["first_response"])
    duration_seconds: int
    due_at: UtcDateTime | None = Field(description="Absent for recurring targets (next_update)")


class SlaPublic(BaseModel):
    level: EscalationLevel  # type: ignore[valid-type]
    policy_id: str
    policy_version: int
    policy_name: str
    matrix_version: int
    matrix_tier: str
    calendar: str
    targets: list[SlaTargetPublic]


class OwnerPublic(BaseModel):
    assignee_id: str | None = Field(description="Null while the ticket waits in its team queue")
    assignee_name: str
    team: str
    skill_level: int


class TicketPublic(BaseModel):
    id: str
    number: int
    status: TicketStatus  # type: ignore[valid-type]
    customer: CustomerPublic
    channel: Channel  # type: ignore[valid-type]
    severity: Severity  # type: ignore[valid-type]
    category: str
    subject: str
    description: str
    tags: list[str]
    reopen_count: int
    version: int
    first_contact_at: UtcDateTime
    created_at: UtcDateTime
    updated_at: UtcDateTime
    sla: SlaPublic | None = Field(
        description="The SLA classification fixed at creation. Staff only: null for partners"
    )
    owner: OwnerPublic | None = Field(description="Who works the ticket. Staff only: null for partners")
    first_response_at: UtcDateTime | None
    resolved_at: UtcDateTime | None
    closed_at: UtcDateTime | None
    created_by: str


class TicketCreated(TicketPublic):
    """The created ticket, and what the caller could reopen instead (most recently finished
    first; empty when none)."""

    reopen_candidates: list[TicketPublic] = Field(
        default_factory=list,
        description="Resolved or closed tickets of the same customer and category finished within "
        "the reopen window that the caller may see",
    )


class TicketPage(BaseModel):
    items: list[TicketPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class TicketList(BaseModel):
    items: list[TicketPublic]


class ContactPublic(BaseModel):
    id: str
    ticket_id: str
    direction: ContactDirection  # type: ignore[valid-type]
    channel: Channel  # type: ignore[valid-type]
    occurred_at: UtcDateTime
    summary: str
    actor: str
    initial: bool = Field(description="The contact that opened the ticket")


class ProgressPublic(BaseModel):
    id: str
    ticket_id: str
    text: str
    next_step: str
    promised_at: UtcDateTime | None
    owner_name: str
    owner_direct_line: str
    created_at: UtcDateTime
    actor: str


class NotePublic(BaseModel):
    id: str
    ticket_id: str
    text: str
    created_at: UtcDateTime
    actor: str


class StatusChangePublic(BaseModel):
    from_status: TicketStatus | None  # type: ignore[valid-type]
    to_status: TicketStatus  # type: ignore[valid-type]
    reason: str


class AssignmentPublic(BaseModel):
    assignee_id: str | None
    team: str
    reason: str


class _EntryBase(BaseModel):
    at: UtcDateTime
    actor: str


class StatusChangedTimelineEntry(_EntryBase):
    kind: Literal["status_changed"]
    status_change: StatusChangePublic


class AssignedTimelineEntry(_EntryBase):
    kind: Literal["assigned"]
    assignment: AssignmentPublic


class ContactTimelineEntry(_EntryBase):
    kind: Literal["contact"]
    contact: ContactPublic


class ProgressTimelineEntry(_EntryBase):
    kind: Literal["progress"]
    progress: ProgressPublic


class NoteTimelineEntry(_EntryBase):
    kind: Literal["note"]
    note: NotePublic


TimelineEntryPublic = Annotated[
    StatusChangedTimelineEntry
    | AssignedTimelineEntry
    | ContactTimelineEntry
    | ProgressTimelineEntry
    | NoteTimelineEntry,
    Field(discriminator="kind"),
]


class TimelinePublic(BaseModel):
    ticket: TicketPublic
    entries: list[TimelineEntryPublic] = Field(description="Oldest first")
    next_cursor: str | None = Field(default=None, description="Set when more entries follow: the `cursor` of the next page")


# --- the customer app (issue #6): the caller's own cases, customer-visible fields only ------


class CaseQuery(SafeInput):
    """Query of `GET /v1/customer/cases`; the customer is always the caller."""

    model_config = ConfigDict(extra="forbid")

    status: list[TicketStatus] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Any of these statuses (repeat the parameter)"
    )
    updated_since: AwareDatetime | None = Field(
        default=None, description="Only cases changed at or after this instant"
    )
    page_size: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(
        default=None, max_length=64, description="`next_cursor` of the previous page"
    )


class CasePublic(BaseModel):
    """A case as its customer sees it: no internal fields, no staff ids, no SLA internals."""

    id: str
    number: int
    status: TicketStatus  # type: ignore[valid-type]
    category: str
    subject: str
    channel: Channel  # type: ignore[valid-type]
    reopen_count: int
    first_contact_at: UtcDateTime
    updated_at: UtcDateTime
    resolved_at: UtcDateTime | None
    closed_at: UtcDateTime | None


class CasePage(BaseModel):
    items: list[CasePublic] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class CaseStatusEntry(BaseModel):
    kind: Literal["status_changed"]
    at: UtcDateTime
    from_status: TicketStatus | None = Field(description="Null for the first status")  # type: ignore[valid-type]
    to_status: TicketStatus  # type: ignore[valid-type]


class CaseProgressEntry(BaseModel):
    kind: Literal["progress"]
    at: UtcDateTime
    text: str
    next_step: str
    promised_at: UtcDateTime | None
    owner_name: str = Field(description="The specialist handling the case")
    owner_direct_line: str = Field(description="Their direct line (专员专线)")


class CaseCommitments(BaseModel):
    """What the customer is promised now (DOMAIN.md §2), in real time: from the SLA clocks."""

    next_update_by: UtcDateTime | None = Field(description="The next progress update is due by (still shown "
                                            "once passed, until the update is posted)")
    next_update_overdue_seconds: int = Field(default=0, description="How long the promised update is "
                                             "overdue (0: it is not)")
    resolve_by: UtcDateTime | None = Field(description="Resolution is due by (unset while waiting for you)")


class CaseProgress(BaseModel):
    case: CasePublic
    entries: list[
        Annotated[CaseStatusEntry | CaseProgressEntry, Field(discriminator="kind")]
    ] = Field(description="Oldest first")
    commitments: CaseCommitments | None = Field(
        default=None, description="Unset when the SLA service cannot say right now (the case is new, "
        "or the service is unavailable): the rest of the page never waits for it")


# --- partner webhooks (issue #6) -------------------------------------------------------------


class WebhookSubscriptionCreate(Strict):
    url: str = Field(min_length=1, max_length=2048, examples=["https://partner.example/kefu-hooks"])
    event_types: list[str] = Field(
        min_length=1,
        max_length=10,
        examples=[["ticket.status_changed", "ticket.progress_added"]],
        description="Any of ticket.created, ticket.updated, ticket.assigned, ticket.status_changed, "
        "ticket.progress_added",
    )


class WebhookSubscriptionPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    created_at: UtcDateTime
    secret: str | None = Field(
        default=None,
        description="HMAC-SHA256 signing secret; returned once, when the subscription is created",
    )


class WebhookSubscriptionList(BaseModel):
    items: list[WebhookSubscriptionPublic]


class WebhookAttemptPublic(BaseModel):
    attempted_at: UtcDateTime
    status_code: int | None = Field(description="The receiver's HTTP status; null when unreachable")
    error: str


class WebhookDeliveryPublic(BaseModel):
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    ticket_id: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: list[WebhookAttemptPublic] = Field(description="Oldest first")
    next_attempt_at: UtcDateTime | None
    created_at: UtcDateTime
    delivered_at: UtcDateTime | None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryPublic] = Field(description="Newest first")


class WebhookDeliveryQuery(SafeInput):
    model_config = ConfigDict(extra="forbid")

    status: Literal["pending", "delivered", "failed", "cancelled"] | None = None
    limit: int = Field(default=50, ge=1, le=200)


class AgentPublic(BaseModel):
    id: str
    name: str
    team: str
    skill_level: int
    specialist: bool
    active: bool
    direct_line: str


class AgentList(BaseModel):
    items: list[AgentPublic]


class Role(enum.StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    BOT = "bot"


class TurnCreate(Strict):
    role: Role
    text: str = Field(max_length=10_000)
    start_ms: int | None = Field(default=None, ge=0, le=2**63 - 1)
    end_ms: int | None = Field(default=None, ge=0, le=2**63 - 1)


class EvaluationCreate(Strict):
    conversation_id: str = Field(default="", max_length=128)
    ticket_id: str = Field(default="", max_length=64)
    agent_id: str = Field(default="", max_length=128)
    turns: list[TurnCreate] = Field(min_length=1, max_length=2000)
    ruleset_id: str = Field(
        default="", max_length=64, description="A published ruleset (default: the active one)"
    )
    ruleset_version: int = Field(default=0, ge=0, le=2**31 - 1, description="0: its latest version")
    category: str = Field(default="", max_length=64, description="The ticket's, for VoC reports")
    channel: str = Field(default="", max_length=32, description="The ticket's, for VoC reports")
    team: str = Field(default="", max_length=64, description="The agent's team, for the review queue")

    product: str = Field(default="", max_length=128, description="What it was about (free text or an id), for VoC reports")
    started_at: AwareDatetime | None = Field(
        default=None, description="When the conversation happened (imported history); default: now"
    )


class EvaluationBatchItemCreate(EvaluationCreate):
    conversation_id: str = Field(min_length=1, max_length=128, description="The item's idempotency key")


class EvaluationBatchCreate(Strict):
    items: list[EvaluationBatchItemCreate] = Field(min_length=1, max_length=500)


class BatchItemError(BaseModel):
    status: int
    code: str
    detail: str


class EvaluationBatchItem(BaseModel):
    index: int
    conversation_id: str
    status: Literal["scored", "refused"]
    evaluation_id: str = ""
    total_score: float | None = None
    grade: str = ""
    error: BatchItemError | None = None


class EvaluationBatchResult(BaseModel):
    items: list[EvaluationBatchItem]
    scored: int
    refused: int


class HitPublic(BaseModel):
    rule_id: str
    rule_version: int
    dimension: str
    turn_index: int
    start: int
    end: int
    matched_text: str
    points: float
    severity: str = ""
    fatal: bool = False
    detail: str = ""
    alert: str = ""
    review: str = ""


class HitReviewPublic(BaseModel):
    hit_index: int
    decision: str
    reviewer: str
    note: str
    created_at: UtcDateTime


class HitReviewCreate(Strict):
    decision: Literal["confirmed", "overturned"]
    note: str = Field(default="", max_length=1000)


class AppealCreate(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class AppealDecision(Strict):
    outcome: Literal["upheld", "rejected"]
    note: str = Field(default="", max_length=1000)


class AppealPublic(BaseModel):
    id: str
    evaluation_id: str
    hit_index: int
    appellant: str
    reason: str
    status: str
    decided_by: str
    decision_note: str
    created_at: UtcDateTime
    decided_at: UtcDateTime | None = None


class RuleAgreementPublic(BaseModel):
    rule_id: str
    reviewed: int
    confirmed: int
    overturned: int
    agreement: float
    # Rule quality (issue #16): the share of evaluations the rule hit, beside its agreement.
    evaluations_hit: int = 0
    evaluations: int = 0
    hit_rate: float = 0.0


class ReviewAgreementPublic(BaseModel):
    rules: list[RuleAgreementPublic]


class DimensionScorePublic(BaseModel):
    dimension: str
    weight: float
    score: float
    applicable: bool


class TurnEmotionPublic(BaseModel):
    turn_index: int
    label: str
    intensity: float
    score: float
    cues: list[str]
    model: float = 0.0


class SatisfactionFactorPublic(BaseModel):
    factor: str
    effect: float
    detail: str
    turn_index: int


class PredictedSatisfactionPublic(BaseModel):
    """How satisfied the customer probably left (1..5, CSAT scale) and why (issue #16)."""

    score: float
    label: str
    turns: int
    customer_turns: int
    factors: list[SatisfactionFactorPublic]


class EmotionPublic(BaseModel):
    turns: list[TurnEmotionPublic]
    trend: str
    start: float
    end: float
    overall: str
    peak_negative: int


class RulesetPublic(BaseModel):
    id: str
    version: int
    name: str
    rule_count: int
    published_at: UtcDateTime | None = Field(description="Unset for the built-in ruleset file")
    published_by: str
    document: dict[str, Any]
    builtin: bool = Field(default=False, description="The service's built-in ruleset file "
                          "(SCORING_RULESET_PATH), not published through the API")


class RulesetList(BaseModel):
    items: list[RulesetPublic]


class ActiveRulesetPublic(BaseModel):
    ruleset: RulesetPublic = Field(description="What evaluations that name no ruleset are scored with")
    activation: int = Field(description="The activation's number, increasing with every switch "
                            "(0: never switched: the built-in file)")
    activated_by: str | None
    activated_at: UtcDateTime | None


class ActiveRulesetChange(Strict):
    ruleset_id: str = Field(min_length=1, max_length=64)
    version: int = Field(default=0, ge=0, le=2**31 - 1, description="0: the latest published version")


class TranscriptTurnPublic(BaseModel):
    role: str = Field(description="agent, customer or bot")
    text: str
    start_ms: int = 0
    end_ms: int = 0

    @field_validator("role", mode="before")
    @classmethod
    def _short_role(cls, value: Any) -> Any:
        # The proto enum name as JSON (`ROLE_AGENT`) -> the public word (`agent`).
        if isinstance(value, str) and value.startswith("ROLE_"):
            return "" if value == "ROLE_UNSPECIFIED" else value.removeprefix("ROLE_").lower()
        return value

    @field_validator("start_ms", "end_ms", mode="before")
    @classmethod
    def _int_ms(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) else value  # int64 is a string in proto JSON


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
    created_at: UtcDateTime
    dimensions: list[DimensionScorePublic] = []
    fatal: bool = False
    not_applicable: list[str] = []
    emotion: EmotionPublic | None = None
    language: str = ""
    risk_flags: list[str] = []
    signal_ids: list[str] = []
    final_score: float | None = None
    final_grade: str = ""
    reviews: list[HitReviewPublic] = []
    team: str = ""

    started_at: UtcDateTime | None = None
    product: str = ""
    category: str = ""
    channel: str = ""
    satisfaction: PredictedSatisfactionPublic | None = None
    turns: list[TranscriptTurnPublic] = Field(
        default=[], description="The transcript as stored (PII-masked); hits point into it by "
        "`turn_index` and the character span `[start, end)`",
    )


# --- escalation configuration (calendars, SLA policies, the matrix) ------------------------

_SHORT_TEXT = Annotated[str, Field(max_length=32)]
_DAY_HOURS = Annotated[list[_SHORT_TEXT], Field(max_length=48)]
_WEEKLY_HELP = (
    "Weekday (mon..sun) -> local working intervals `HH:MM-HH:MM` (end `24:00` is the end of the "
    "day; several a day express a lunch break). A day left out has no working hours."
)


class MatrixTier(enum.StrEnum):
    STANDARD = "standard"
    VIP = "vip"
    SENSITIVE = "sensitive"


class CalendarPut(Strict):
    """A business-hours calendar. Its meaning (time zone, intervals, dates) is checked by the
    escalation service with the code that computes due times: 400 `invalid_calendar` names
    the problem."""

    tz: str = Field(min_length=1, max_length=64, description="IANA time zone", examples=["Asia/Shanghai"])
    weekly: dict[_SHORT_TEXT, _DAY_HOURS] = Field(
        max_length=7,
        description=_WEEKLY_HELP,
        examples=[{"mon": ["09:00-12:00", "13:30-18:00"], "tue": ["09:00-12:00", "13:30-18:00"]}],
    )
    holidays: list[_SHORT_TEXT] = Field(
        default_factory=list, max_length=5000, description="ISO dates without working hours",
        examples=[["2026-10-01", "2026-10-02"]],
    )
    extra_workdays: dict[_SHORT_TEXT, _DAY_HOURS] = Field(
        default_factory=dict,
        max_length=5000,
        description="ISO date -> its working intervals (make-up workdays, 调休), overriding "
        "the weekday and any holiday entry is refused",
        examples=[{"2026-10-10": ["09:00-12:00", "13:30-18:00"]}],
    )


class CalendarPublic(BaseModel):
    name: str
    tz: str
    weekly: dict[str, list[str]] = Field(description=_WEEKLY_HELP)
    holidays: list[str]
    extra_workdays: dict[str, list[str]]
    updated_at: UtcDateTime


class CalendarList(BaseModel):
    items: list[CalendarPublic] = Field(description="By name")


_TARGET = Field(ge=1, le=366 * 24 * 3600, description="Seconds of business time of the calendar")


class PolicyPublish(Strict):
    """Publishes the next version of the policy `id` (version 1 of a new id). Earlier versions,
    and the tickets that got them, stay as they are."""

    id: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$", examples=["p3-high"]
    )
    name: str = Field(min_length=1, max_length=200, examples=["P3 high"])
    calendar: str = Field(
        default="24x7", min_length=1, max_length=64, description="An existing calendar's name"
    )
    first_response_seconds: int = _TARGET
    next_update_seconds: int = _TARGET
    resolution_seconds: int = _TARGET
    escalation_ack_seconds: int = _TARGET
    warning_percent: int = Field(
        default=75, ge=1, le=99, description="A clock warns when this share of a target has passed"
    )
    warning_before_seconds: int | None = Field(
        default=None, ge=1, le=366 * 24 * 3600,
        description="Absolute threshold: also warn this long (business time) before due, "
        "whichever of the two comes first",
    )


class PolicyPublic(BaseModel):
    id: str
    version: int
    name: str
    calendar: str
    first_response_seconds: int
    next_update_seconds: int
    resolution_seconds: int
    escalation_ack_seconds: int
    warning_percent: int
    warning_before_seconds: int | None
    created_at: UtcDateTime


class PolicyList(BaseModel):
    items: list[PolicyPublic] = Field(description="By id, then version")


class PolicyQuery(SafeInput):
    model_config = ConfigDict(extra="forbid")

    all_versions: bool = Field(
        default=False, description="Every version, not only the latest of each policy"
    )
    policy_id: str | None = Field(default=None, min_length=1, max_length=64)


class MatrixCellPublish(Strict):
    tier: MatrixTier = Field(
        description="`sensitive` is the row of high-risk customers and regulator complaints"
    )
    severity: Severity  # type: ignore[valid-type]
    level: EscalationLevel  # type: ignore[valid-type]
    policy_id: str = Field(min_length=1, max_length=64)
    policy_version: int = Field(ge=1, le=2**31 - 1)


class MatrixPublish(Strict):
    """A complete matrix: each tier × severity exactly once (12 cells), else 400
    `matrix_incomplete`. It becomes the version new tickets get."""

    note: str = Field(default="", max_length=500)
    cells: list[MatrixCellPublish] = Field(max_length=100)


class MatrixCellPublic(BaseModel):
    tier: MatrixTier
    severity: Severity  # type: ignore[valid-type]
    level: EscalationLevel  # type: ignore[valid-type]
    policy_id: str
    policy_version: int


class MatrixPublic(BaseModel):
    version: int
    note: str
    published_at: UtcDateTime | None
    cells: list[MatrixCellPublic] = Field(description="By tier (standard, vip, sensitive), then severity")


class MatrixQuery(SafeInput):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Defaults to the latest published version"
    )


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
