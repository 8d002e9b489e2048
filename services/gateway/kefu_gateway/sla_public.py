"""Public bodies of the SLA and escalation routes (routes/sla.py) and their conversion from
the escalation service's replies. Kept beside schemas.py/convert.py, in the same style."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import grpc
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.timestamps import UtcDateTime, instants_in_one_format, instants_in_text
from kefu_common.protoconv import enum_to_str, level_to_str
from kefu_gateway.convert import _ts
from kefu_gateway.export import ExportQuery
from kefu_gateway.schemas import EscalationLevel, SafeInput, Strict

if TYPE_CHECKING:
    from kefu_gateway.clients import Clients


class ClockPublic(BaseModel):
    target: str = Field(description="first_response, resolution (next_update, escalation_ack: see below)")
    duration_seconds: int = Field(description="The target, in business seconds of the cycle's calendar")
    started_at: UtcDateTime
    due_at: UtcDateTime | None = Field(description="Unset while paused with time left")
    warn_at: UtcDateTime | None
    state: str = Field(description="running, paused, met or breached")
    used_seconds: int = Field(description="Business seconds the clock has run")
    remaining_seconds: int
    overrun_seconds: int
    warned: bool
    breached: bool
    paused_reason: str = Field(description="pending_customer while paused, else empty")
    finished_at: UtcDateTime | None
    unpublished_years: list[int] = Field(default_factory=list, description="Years the due time reaches into "
                                         "for which the calendar has no published holidays: computed on plain "
                                         "weekdays there, it may move when the year's schedule is imported")


class ClockHistoryPublic(BaseModel):
    kind: str = Field(description="cycle_opened, started, paused, resumed, warned, breached, met, stopped, "
                      "reclassified (a severity or tier change re-resolved the matrix)")
    target: str | None
    at: UtcDateTime
    details: dict[str, Any]


class SlaCyclePublic(BaseModel):
    number: int
    opened_at: UtcDateTime
    stopped_at: UtcDateTime | None
    calendar: str
    paused: bool
    clocks: list[ClockPublic]
    history: list[ClockHistoryPublic] = Field(description="Immutable clock events, oldest first")


class EscalationPublic(BaseModel):
    id: str
    ticket_id: str
    cycle: int
    trigger: str = Field(description="matrix, breach, contacts, reopens, risk_signal, anxious_customer, "
                                     "manual, ack_timeout or dissatisfied_rating")
    trigger_key: str
    from_level: EscalationLevel  # type: ignore[valid-type]
    to_level: EscalationLevel  # type: ignore[valid-type]
    to_party: str = Field(description="senior_specialist (L1), team_lead (L2) or crisis_team (L3)")
    team: str
    reason: str
    actor: str
    created_at: UtcDateTime
    ack_due_at: UtcDateTime | None = Field(description="When the party must have acknowledged it")
    acknowledged_at: UtcDateTime | None
    acknowledged_by: str | None
    status: str = Field(description="open, acknowledged or ack_breached")


class EscalationList(BaseModel):
    items: list[EscalationPublic] = Field(description="Newest first")
    next_cursor: str | None


class CommitmentsPublic(BaseModel):
    next_update_by: UtcDateTime | None = Field(description="The next customer-visible progress entry is due by; "
                                            "still shown once it has passed, until an update is posted")
    next_update_overdue_seconds: int = Field(default=0, description="How long `next_update_by` has passed "
                                             "without an update (0: not overdue)")
    resolve_by: UtcDateTime | None = Field(description="Resolution due by (unset while paused)")
    unpublished_years: list[int] = Field(default_factory=list, description="Years these commitments reach "
                                         "into with no published holidays in the calendar (see the clocks')")


class TicketSlaPublic(BaseModel):
    ticket_id: str
    level: EscalationLevel  # type: ignore[valid-type]
    as_of: UtcDateTime
    provisional: bool = Field(default=False, description="True for the first moments after a create: "
                              "the clocks the ticket's own SLA snapshot starts, before the escalation "
                              "service has projected it (no history of later events, no escalations yet)")
    commitments: CommitmentsPublic
    cycles: list[SlaCyclePublic] = Field(description="Oldest first; the last one is the current cycle")
    escalations: list[EscalationPublic] = Field(description="Newest first")


class EscalationQuery(SafeInput, ExportQuery):
    model_config = ConfigDict(extra="forbid")

    ticket_id: str | None = Field(default=None, min_length=1, max_length=64)
    status: str | None = Field(default=None, pattern=r"^(open|acknowledged|ack_breached)$")
    trigger: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    team: str | None = Field(default=None, min_length=1, max_length=64)
    min_level: EscalationLevel | None = None  # type: ignore[valid-type]
    page_size: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class EscalateCreate(Strict):
    to_level: EscalationLevel | None = Field(  # type: ignore[valid-type]
        default=None, description="Default: one level above the ticket's current level")
    reason: str = Field(min_length=1, max_length=1000)


class ShiftPublic(BaseModel):
    ticket_id: str
    cycle: int
    target: str
    current_due_at: UtcDateTime | None
    draft_due_at: UtcDateTime | None
    shift_seconds: int = Field(description="Draft minus current; negative: earlier")
    current_policy: str
    draft_policy: str
    current_level: EscalationLevel  # type: ignore[valid-type]
    draft_level: EscalationLevel  # type: ignore[valid-type]


class MatrixPreviewPublic(BaseModel):
    open_cycles: int
    earlier: int
    later: int
    shifts: list[ShiftPublic]


class SlaReportQuery(SafeInput):
    model_config = ConfigDict(extra="forbid")

    period_start: AwareDatetime = Field(description="Inclusive")
    period_end: AwareDatetime = Field(description="Exclusive; at most 366 days after the start")
    team: str | None = Field(default=None, min_length=1, max_length=64)


class TargetAttainmentPublic(BaseModel):
    target: str
    finished: int = Field(description="Targets that ended in the period (on time or late)")
    met: int
    breached: int
    attainment: float = Field(description="met ÷ finished")


class EscalationCountPublic(BaseModel):
    trigger: str
    to_level: EscalationLevel  # type: ignore[valid-type]
    count: int


class SlaReportPublic(BaseModel):
    period_start: UtcDateTime
    period_end: UtcDateTime
    team: str | None
    targets: list[TargetAttainmentPublic] = Field(description="SLA attainment per target (DOMAIN.md §4)")
    cycles_opened: int = Field(description="First contacts and reopens in the period")
    tickets_escalated: int
    escalation_rate: float = Field(description="Tickets with a cycle opened in the period that were "
                                               "escalated in it ÷ tickets with a cycle opened in it")
    escalations: list[EscalationCountPublic] = Field(description="By trigger and level")


def sla_report_public(r: escalation_pb2.SlaReport, query: SlaReportQuery) -> SlaReportPublic:
    return SlaReportPublic.model_validate({
        "period_start": query.period_start, "period_end": query.period_end, "team": query.team,
        "targets": [{"target": t.target, "finished": t.finished, "met": t.met, "breached": t.breached,
                     "attainment": t.attainment} for t in r.targets],
        "cycles_opened": r.cycles_opened, "tickets_escalated": r.tickets_escalated,
        "escalation_rate": r.escalation_rate,
        "escalations": [{"trigger": _trigger(e.trigger), "to_level": level_to_str(e.to_level), "count": e.count}
                        for e in r.escalations],
    })


def _trigger(value: int) -> str:
    """matrix, breach, ...: the trigger's name in the REST API."""
    return enum_to_str(escalation_pb2.EscalationTrigger, value) or ""


def _opt(value: str) -> str | None:
    return value or None


def escalation_public(e: escalation_pb2.Escalation) -> EscalationPublic:
    return EscalationPublic.model_validate({
        "id": e.id, "ticket_id": e.ticket_id, "cycle": e.cycle, "trigger": _trigger(e.trigger),
        "trigger_key": e.trigger_key, "from_level": level_to_str(e.from_level),
        "to_level": level_to_str(e.to_level), "to_party": e.to_party, "team": e.team, "reason": instants_in_text(e.reason),
        "actor": e.actor, "created_at": _ts(e, "created_at"), "ack_due_at": _ts(e, "ack_due_at"),
        "acknowledged_at": _ts(e, "acknowledged_at"), "acknowledged_by": _opt(e.acknowledged_by),
        "status": e.status,
    })


def _clock(c: escalation_pb2.ClockView) -> dict[str, Any]:
    plain = ("target", "duration_seconds", "state", "used_seconds", "remaining_seconds", "overrun_seconds",
             "warned", "breached", "paused_reason")
    stamps = ("started_at", "due_at", "warn_at", "finished_at")
    return {**{k: getattr(c, k) for k in plain}, **{k: _ts(c, k) for k in stamps},
            "unpublished_years": list(c.unpublished_years)}


def ticket_sla_public(v: escalation_pb2.TicketSla) -> TicketSlaPublic:
    return TicketSlaPublic.model_validate({
        "ticket_id": v.ticket_id, "level": level_to_str(v.current_level), "as_of": _ts(v, "as_of"),
        "provisional": v.provisional,
        "commitments": {"next_update_by": _ts(v, "next_update_by"), "resolve_by": _ts(v, "resolve_by"),
                        "next_update_overdue_seconds": v.next_update_overdue_seconds,
                        "unpublished_years": list(v.unpublished_years)},
        "cycles": [
            {
                "number": c.number, "opened_at": _ts(c, "opened_at"), "stopped_at": _ts(c, "stopped_at"),
                "calendar": c.calendar, "paused": c.paused, "clocks": [_clock(k) for k in c.clocks],
                "history": [{"kind": h.kind, "target": _opt(h.target), "at": _ts(h, "at"),
                             "details": instants_in_one_format(json.loads(h.details_json or "{}"))}
                            for h in c.history],
            }
            for c in v.cycles
        ],
        "escalations": [escalation_public(e) for e in v.escalations],
    })


def preview_public(p: escalation_pb2.PreviewMatrixResponse) -> MatrixPreviewPublic:
    return MatrixPreviewPublic.model_validate({
        "open_cycles": p.open_cycles, "earlier": p.earlier, "later": p.later,
        "shifts": [
            {"ticket_id": s.ticket_id, "cycle": s.cycle, "target": s.target,
             "current_due_at": _ts(s, "current_due_at"), "draft_due_at": _ts(s, "draft_due_at"),
             "shift_seconds": s.shift_seconds, "current_policy": s.current_policy,
             "draft_policy": s.draft_policy, "current_level": level_to_str(s.current_level),
             "draft_level": level_to_str(s.draft_level)}
            for s in p.shifts
        ],
    })


# ------------------------------------------------------------------------------ read-your-writes


def provisional_sla(ticket: ticketing_pb2.Ticket) -> escalation_pb2.ProvisionalSla:
    """The SLA snapshot ticketing stored on the ticket at creation, for escalation's view."""
    return escalation_pb2.ProvisionalSla(sla=ticket.sla, first_contact_at=ticket.first_contact_at)


async def read_ticket_sla(clients: Clients, ticket_id: str, *,
                          ticket: ticketing_pb2.Ticket | None = None) -> escalation_pb2.TicketSla:
    """The ticket's SLA view, read-your-writes (issue #14.2): until the escalation service has
    projected a just-created ticket, it answers from the SLA snapshot the ticket holds (read
    from ticketing unless the caller has the ticket already; a ticket that does not exist is
    404 `ticket_not_found` from there)."""
    try:
        return await clients.escalation.GetTicketSla(
            escalation_pb2.GetTicketSlaRequest(ticket_id=ticket_id), timeout=clients.timeout)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
    if ticket is None:
        ticket = await clients.ticketing.GetTicket(ticketing_pb2.GetTicketRequest(id=ticket_id),
                                                   timeout=clients.timeout)
    return await clients.escalation.GetTicketSla(
        escalation_pb2.GetTicketSlaRequest(ticket_id=ticket.id, provisional=provisional_sla(ticket)),
        timeout=clients.timeout)
