"""Ticket events (`kefu.ticketing.v1.Event`): their names, and their documented JSON form.

An event is one typed message per change (the `change` oneof, docs/events.md); services read
its fields, never a JSON payload. The JSON form documented in docs/events.md is what partner
webhooks carry (the gateway filters it, kefu_gateway.scope), so it is produced here, once:

    event_type(event)        -> "ticket.status_changed"
    to_json(event)           -> {"ticket_id": ..., "number": ..., "version": ..., "status": ..., "action": ...}
    from_json(type, doc)     -> Event   (the inverse: rows written before the typed outbox,
                                         converted by ticketing migration 0008 / escalation 0014)
    sla_snapshot(doc) / sla_json(snapshot)   the SLA snapshot, message <-> its JSON form

`to_json(from_json(t, d)) == d` for every documented body, and `from_json(event_type(e),
to_json(e)) == e` for every event (tests/unit/test_ticket_events.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import enum_to_str, from_timestamp, level_to_str, str_to_enum, to_timestamp

__all__ = ["EVENT_TYPES", "event_type", "from_json", "sla_json", "sla_snapshot", "to_json"]

# The `change` case of each event type; the type is "ticket." + the case's name.
EVENT_TYPES: dict[str, str] = {
    f"ticket.{field.name}": field.name
    for field in ticketing_pb2.Event.DESCRIPTOR.oneofs_by_name["change"].fields
}

Tier, Severity, Channel = types_pb2.CustomerTier, types_pb2.Severity, types_pb2.Channel
Status, Direction, Action = ticketing_pb2.TicketStatus, ticketing_pb2.ContactDirection, ticketing_pb2.StatusAction


def event_type(event: ticketing_pb2.Event) -> str:
    """The event's name, from the change it carries ("" when none is set)."""
    case = event.WhichOneof("change")
    return f"ticket.{case}" if case else ""


# --- the SLA snapshot --------------------------------------------------------------------


def _iso(ts: Timestamp) -> str:
    return from_timestamp(ts).isoformat()


def _opt_iso(message: Any, field: str) -> str | None:
    return _iso(getattr(message, field)) if message.HasField(field) else None


def _ts(value: str | datetime | None) -> Timestamp | None:
    if not value:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return to_timestamp(at)


def sla_snapshot(doc: Mapping[str, Any]) -> types_pb2.SlaSnapshot:
    """The message of an SLA snapshot in its JSON form (what ticketing stores on the ticket)."""
    level = doc.get("level")
    return types_pb2.SlaSnapshot(
        level=str_to_enum(types_pb2.EscalationLevel, level) if level else 0,
        policy_id=doc.get("policy_id") or "",
        policy_version=int(doc.get("policy_version") or 0),
        policy_name=doc.get("policy_name") or "",
        matrix_version=int(doc.get("matrix_version") or 0),
        matrix_tier=doc.get("matrix_tier") or "",
        calendar=doc.get("calendar") or "",
        targets=[
            types_pb2.SlaTarget(name=t["name"], duration_seconds=int(t.get("duration_seconds") or 0),
                                due_at=_ts(t.get("due_at")))
            for t in doc.get("targets") or ()
        ],
    )


def sla_json(sla: types_pb2.SlaSnapshot) -> dict[str, Any]:
    """The JSON form of an SLA snapshot (docs/events.md `sla`)."""
    return {
        "level": level_to_str(sla.level),
        "policy_id": sla.policy_id,
        "policy_version": sla.policy_version,
        "policy_name": sla.policy_name,
        "matrix_version": sla.matrix_version,
        "matrix_tier": sla.matrix_tier,
        "calendar": sla.calendar,
        "targets": [
            {"name": t.name, "duration_seconds": t.duration_seconds, "due_at": _opt_iso(t, "due_at")}
            for t in sla.targets
        ],
    }


# --- message -> JSON ---------------------------------------------------------------------


def _changes_json(c: ticketing_pb2.TicketChanges) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("subject", "description", "severity", "category", "customer_tier", "customer_sensitive"):
        if c.HasField(name):
            value = getattr(c, name)
            out[name] = enum_to_str(Severity, value) if name == "severity" else (
                enum_to_str(Tier, value) if name == "customer_tier" else value)
    if c.HasField("tags"):
        out["tags"] = list(c.tags.values)
    return out


def _classification_json(c: ticketing_pb2.TicketClassification) -> dict[str, Any]:
    return {"severity": enum_to_str(Severity, c.severity), "customer_tier": enum_to_str(Tier, c.customer_tier),
            "customer_sensitive": c.customer_sensitive, "channel": enum_to_str(Channel, c.channel)}


def _change_json(event: ticketing_pb2.Event) -> dict[str, Any]:
    case = event.WhichOneof("change")
    if case == "created":
        c = event.created
        return {"customer_id": c.customer_id, "customer_tier": enum_to_str(Tier, c.customer_tier),
                "customer_sensitive": c.customer_sensitive, "channel": enum_to_str(Channel, c.channel),
                "severity": enum_to_str(Severity, c.severity), "category": c.category, "team": c.team,
                "assignee_id": c.assignee_id or None, "first_contact_at": _iso(c.first_contact_at),
                "sla": sla_json(c.sla),
                # absent in events stored before the field existed, so their JSON stays as it was
                **({"created_by": c.created_by} if c.created_by else {})}
    if case == "updated":
        u = event.updated
        out = {"actor": u.actor, "changes": _changes_json(u.changes)}
        if u.HasField("classification"):
            out["classification"] = _classification_json(u.classification)
        return out
    if case == "assigned":
        a = event.assigned
        return {"actor": a.actor, "assignee_id": a.assignee_id or None, "team": a.team, "reason": a.reason}
    if case == "contact_logged":
        k = event.contact_logged
        return {"contact_id": k.contact_id, "direction": enum_to_str(Direction, k.direction),
                "channel": enum_to_str(Channel, k.channel), "occurred_at": _iso(k.occurred_at),
                "proactive": k.proactive}
    if case == "progress_added":
        p = event.progress_added
        return {"progress_id": p.progress_id, "promised_at": _opt_iso(p, "promised_at"), "actor": p.actor}
    if case == "progress_viewed":
        v = event.progress_viewed
        return {"viewer": v.viewer, "view_count": v.view_count, "views_last_hour": v.views_last_hour}
    if case == "status_changed":
        s = event.status_changed
        out = {"action": enum_to_str(Action, s.action), "from_status": enum_to_str(Status, s.from_status),
               "to_status": enum_to_str(Status, s.to_status)}
        if s.HasField("reopen_count"):
            out["reopen_count"] = s.reopen_count
        return {**out, "actor": s.actor, "reason": s.reason}
    if case == "rated":
        r = event.rated
        return {"rating_id": r.rating_id, "cycle": r.cycle, "revision": r.revision, "score": r.score,
                "nps": r.nps if r.HasField("nps") else None, "source": r.source, "dissatisfied": r.dissatisfied}
    return {}


def to_json(event: ticketing_pb2.Event) -> dict[str, Any]:
    """The documented JSON body of an event (docs/events.md): always `ticket_id`, `number`,
    `version`, `status`, then the fields of its change."""
    return {"ticket_id": event.ticket_id, "number": event.number, "version": event.version,
            "status": enum_to_str(Status, event.status), **_change_json(event)}


# --- JSON -> message (rows from before the typed outbox) -------------------------------------


def _enum(enum_type: object, value: Any) -> int:
    return str_to_enum(enum_type, str(value)) if value else 0


def _changes(doc: Mapping[str, Any]) -> ticketing_pb2.TicketChanges:
    c = ticketing_pb2.TicketChanges()
    for name in ("subject", "description", "category", "customer_sensitive"):
        if name in doc:
            setattr(c, name, doc[name])
    if "severity" in doc:
        c.severity = _enum(Severity, doc["severity"])
    if "customer_tier" in doc:
        c.customer_tier = _enum(Tier, doc["customer_tier"])
    if "tags" in doc:
        c.tags.SetInParent()
        c.tags.values.extend(doc["tags"])
    return c


def _change(event: ticketing_pb2.Event, case: str, doc: Mapping[str, Any]) -> None:
    if case == "created":
        event.created.CopyFrom(ticketing_pb2.TicketCreated(
            customer_id=doc.get("customer_id") or "", customer_tier=_enum(Tier, doc.get("customer_tier")),
            customer_sensitive=bool(doc.get("customer_sensitive")), channel=_enum(Channel, doc.get("channel")),
            severity=_enum(Severity, doc.get("severity")), category=doc.get("category") or "",
            team=doc.get("team") or "", assignee_id=doc.get("assignee_id") or "",
            first_contact_at=_ts(doc.get("first_contact_at")), sla=sla_snapshot(doc.get("sla") or {}),
            created_by=doc.get("created_by") or ""))
    elif case == "updated":
        classification = doc.get("classification")
        event.updated.CopyFrom(ticketing_pb2.TicketUpdated(
            actor=doc.get("actor") or "", changes=_changes(doc.get("changes") or {}),
            classification=None if not classification else ticketing_pb2.TicketClassification(
                severity=_enum(Severity, classification.get("severity")),
                customer_tier=_enum(Tier, classification.get("customer_tier")),
                customer_sensitive=bool(classification.get("customer_sensitive")),
                channel=_enum(Channel, classification.get("channel")))))
    elif case == "assigned":
        event.assigned.CopyFrom(ticketing_pb2.TicketAssigned(
            actor=doc.get("actor") or "", assignee_id=doc.get("assignee_id") or "", team=doc.get("team") or "",
            reason=doc.get("reason") or ""))
    elif case == "contact_logged":
        event.contact_logged.CopyFrom(ticketing_pb2.ContactLogged(
            contact_id=doc.get("contact_id") or "", direction=_enum(Direction, doc.get("direction")),
            channel=_enum(Channel, doc.get("channel")), occurred_at=_ts(doc.get("occurred_at")),
            proactive=bool(doc.get("proactive"))))
    elif case == "progress_added":
        event.progress_added.CopyFrom(ticketing_pb2.ProgressAdded(
            progress_id=doc.get("progress_id") or "", promised_at=_ts(doc.get("promised_at")),
            actor=doc.get("actor") or ""))
    elif case == "progress_viewed":
        event.progress_viewed.CopyFrom(ticketing_pb2.ProgressViewed(
            viewer=doc.get("viewer") or "", view_count=int(doc.get("view_count") or 0),
            views_last_hour=int(doc.get("views_last_hour") or 0)))
    elif case == "status_changed":
        event.status_changed.CopyFrom(ticketing_pb2.StatusChanged(
            action=_enum(Action, doc.get("action")), from_status=_enum(Status, doc.get("from_status")),
            to_status=_enum(Status, doc.get("to_status")), actor=doc.get("actor") or "",
            reason=doc.get("reason") or "", reopen_count=doc.get("reopen_count")))
    elif case == "rated":
        event.rated.CopyFrom(ticketing_pb2.TicketRated(
            rating_id=doc.get("rating_id") or "", cycle=int(doc.get("cycle") or 0),
            revision=int(doc.get("revision") or 0), score=int(doc.get("score") or 0), nps=doc.get("nps"),
            source=doc.get("source") or "", dissatisfied=bool(doc.get("dissatisfied"))))


def from_json(type_: str, doc: Mapping[str, Any]) -> ticketing_pb2.Event:
    """The typed event of a documented JSON body (only the body: the envelope's sequence,
    event id and time are the caller's). Unknown types raise ValueError."""
    case = EVENT_TYPES.get(type_)
    if case is None:
        raise ValueError(f"unknown event type {type_!r}")
    event = ticketing_pb2.Event(
        ticket_id=str(doc.get("ticket_id") or ""), number=int(doc.get("number") or 0),
        version=int(doc.get("version") or 0), status=_enum(Status, doc.get("status")))
    _change(event, case, doc)
    return event
