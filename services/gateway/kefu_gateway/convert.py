"""gRPC replies -> public response bodies (`XPublic`). Pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import enum_to_str, level_to_str
from kefu_gateway.schemas import (
    AgentPublic,
    CalendarPublic,
    CaseProgress,
    CasePublic,
    ContactPublic,
    MatrixPublic,
    NotePublic,
    PolicyPublic,
    ProgressPublic,
    TicketPublic,
    TimelinePublic,
)


def _ts(message: Message, field: str) -> str | None:
    """An RFC 3339 string for a set Timestamp field, None for an unset one."""
    return getattr(message, field).ToJsonString() if message.HasField(field) else None


def _sla(t: ticketing_pb2.Ticket) -> dict[str, Any] | None:
    if not t.HasField("sla"):
        return None
    return {
        "level": level_to_str(t.sla.level),
        "policy_id": t.sla.policy_id,
        "policy_version": t.sla.policy_version,
        "policy_name": t.sla.policy_name,
        "matrix_version": t.sla.matrix_version,
        "matrix_tier": t.sla.matrix_tier,
        "calendar": t.sla.calendar,
        "targets": [
            {"name": x.name, "duration_seconds": x.duration_seconds, "due_at": _ts(x, "due_at")}
            for x in t.sla.targets
        ],
    }


def _ticket(t: ticketing_pb2.Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "number": t.number,
        "status": enum_to_str(ticketing_pb2.TicketStatus, t.status),
        "customer": {
            "id": t.customer.id,
            "name": t.customer.name,
            "tier": enum_to_str(types_pb2.CustomerTier, t.customer.tier),
            "sensitive": t.customer.sensitive,
            "phone": t.customer.phone,
            "email": t.customer.email,
        },
        "channel": enum_to_str(types_pb2.Channel, t.channel),
        "severity": enum_to_str(types_pb2.Severity, t.severity),
        "category": t.category,
        "subject": t.subject,
        "description": t.description,
        "tags": list(t.tags),
        "reopen_count": t.reopen_count,
        "version": t.version,
        "first_contact_at": _ts(t, "first_contact_at"),
        "created_at": _ts(t, "created_at"),
        "updated_at": _ts(t, "updated_at"),
        "sla": _sla(t),
        "owner": {
            "assignee_id": t.owner.assignee_id or None,
            "assignee_name": t.owner.assignee_name,
            "team": t.owner.team,
            "skill_level": t.owner.skill_level,
        },
        "first_response_at": _ts(t, "first_response_at"),
        "resolved_at": _ts(t, "resolved_at"),
        "closed_at": _ts(t, "closed_at"),
        "created_by": t.created_by,
    }


def ticket_public(t: ticketing_pb2.Ticket) -> TicketPublic:
    return TicketPublic.model_validate(_ticket(t))


def _contact(c: ticketing_pb2.Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "ticket_id": c.ticket_id,
        "direction": enum_to_str(ticketing_pb2.ContactDirection, c.direction),
        "channel": enum_to_str(types_pb2.Channel, c.channel),
        "occurred_at": _ts(c, "occurred_at"),
        "summary": c.summary,
        "actor": c.actor,
        "initial": c.initial,
    }


def contact_public(c: ticketing_pb2.Contact) -> ContactPublic:
    return ContactPublic.model_validate(_contact(c))


def _progress(p: ticketing_pb2.ProgressEntry) -> dict[str, Any]:
    return {
        "id": p.id,
        "ticket_id": p.ticket_id,
        "text": p.text,
        "next_step": p.next_step,
        "promised_at": _ts(p, "promised_at"),
        "owner_name": p.owner_name,
        "owner_direct_line": p.owner_direct_line,
        "created_at": _ts(p, "created_at"),
        "actor": p.actor,
    }


def progress_public(p: ticketing_pb2.ProgressEntry) -> ProgressPublic:
    return ProgressPublic.model_validate(_progress(p))


def _note(n: ticketing_pb2.Note) -> dict[str, Any]:
    return {
        "id": n.id,
        "ticket_id": n.ticket_id,
        "text": n.text,
        "created_at": _ts(n, "created_at"),
        "actor": n.actor,
    }


def note_public(n: ticketing_pb2.Note) -> NotePublic:
    return NotePublic.model_validate(_note(n))


def _entry(e: ticketing_pb2.TimelineEntry) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": _ts(e, "at"), "kind": e.kind, "actor": e.actor}
    item = e.WhichOneof("item")
    if item == "status_change":
        entry[item] = {
            "from_status": enum_to_str(ticketing_pb2.TicketStatus, e.status_change.from_status),
            "to_status": enum_to_str(ticketing_pb2.TicketStatus, e.status_change.to_status),
            "reason": e.status_change.reason,
        }
    elif item == "contact":
        entry[item] = _contact(e.contact)
    elif item == "progress":
        entry[item] = _progress(e.progress)
    elif item == "note":
        entry[item] = _note(e.note)
    elif item == "assignment":
        entry[item] = {
            "assignee_id": e.assignment.assignee_id or None,
            "team": e.assignment.team,
            "reason": e.assignment.reason,
        }
    return entry


def timeline_public(t: ticketing_pb2.Timeline) -> TimelinePublic:
    return TimelinePublic.model_validate(
        {"ticket": _ticket(t.ticket), "entries": [_entry(e) for e in t.entries]}
    )


_CASE_FIELDS = (
    "id", "number", "status", "category", "subject", "channel", "reopen_count",
    "first_contact_at", "updated_at", "resolved_at", "closed_at",
)


def case_public(t: ticketing_pb2.Ticket) -> CasePublic:
    """The customer's view of their ticket: an allow-list of fields, so a field added to the
    ticket later never reaches the customer app by accident."""
    ticket = _ticket(t)
    return CasePublic.model_validate({name: ticket[name] for name in _CASE_FIELDS})


def _case_entry(e: ticketing_pb2.TimelineEntry) -> dict[str, Any] | None:
    item = e.WhichOneof("item")
    if item == "status_change":
        return {
            "kind": "status_changed",
            "at": _ts(e, "at"),
            "from_status": enum_to_str(ticketing_pb2.TicketStatus, e.status_change.from_status),
            "to_status": enum_to_str(ticketing_pb2.TicketStatus, e.status_change.to_status),
        }
    if item == "progress":
        p = _progress(e.progress)
        return {"kind": "progress", "at": _ts(e, "at")} | {
            k: p[k] for k in ("text", "next_step", "promised_at", "owner_name", "owner_direct_line")
        }
    return None  # anything else is internal, even if a future ticketing version sent it


def case_progress(t: ticketing_pb2.Timeline) -> CaseProgress:
    entries = [entry for e in t.entries if (entry := _case_entry(e)) is not None]
    return CaseProgress.model_validate({"case": case_public(t.ticket), "entries": entries})


def agent_public(a: ticketing_pb2.Agent) -> AgentPublic:
    return AgentPublic.model_validate(
        {
            "id": a.id,
            "name": a.name,
            "team": a.team,
            "skill_level": a.skill_level,
            "specialist": a.specialist,
            "active": a.active,
            "direct_line": a.direct_line,
        }
    )


def calendar_public(c: escalation_pb2.Calendar) -> CalendarPublic:
    return CalendarPublic.model_validate(
        {
            "name": c.name,
            "tz": c.tz,
            "weekly": {k: list(v.intervals) for k, v in c.weekly.items()},
            "holidays": list(c.holidays),
            "extra_workdays": {k: list(v.intervals) for k, v in c.extra_workdays.items()},
            "updated_at": _ts(c, "updated_at"),
        }
    )


def policy_public(p: escalation_pb2.SlaPolicy) -> PolicyPublic:
    fields = {name: getattr(p, name) for name in PolicyPublic.model_fields if name != "created_at"}
    fields["warning_before_seconds"] = p.warning_before_seconds or None
    return PolicyPublic.model_validate({**fields, "created_at": _ts(p, "created_at")})


def matrix_public(m: escalation_pb2.Matrix) -> MatrixPublic:
    return MatrixPublic.model_validate(
        {
            "version": m.version,
            "note": m.note,
            "published_at": _ts(m, "published_at"),
            "cells": [
                {
                    "tier": c.tier,
                    "severity": enum_to_str(types_pb2.Severity, c.severity),
                    "level": level_to_str(c.level),
                    "policy_id": c.policy_id,
                    "policy_version": c.policy_version,
                }
                for c in m.cells
            ],
        }
    )
