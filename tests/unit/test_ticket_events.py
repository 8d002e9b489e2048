"""Ticket events are typed messages (issue #15): the structure rule, and every event type's
round trip through its bytes and its documented JSON form."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import to_timestamp
from kefu_common.ticket_events import EVENT_TYPES, event_type, from_json, sla_json, sla_snapshot, to_json

ROOT = Path(__file__).resolve().parents[2]
T = to_timestamp(datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC))
# `payload.get(` that is not on a ticket event: escalation's own notification outbox body.
NOT_EVENTS = {("services/escalation/kefu_escalation/escalations.py", "n.payload.get('team')")}


def _sources() -> list[Path]:
    return [p for d in ("proto", "services", "libs") for p in (ROOT / d).rglob("*")
            if p.suffix in (".py", ".proto") and p.is_file()]


def test_no_event_is_read_through_payload_json_or_payload_get() -> None:
    found = []
    for path in _sources():
        rel = str(path.relative_to(ROOT))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "payload_json" in line and not re.match(r"\s*reserved\b", line):
                found.append(f"{rel}:{n}: {line.strip()}")
            for hit in re.findall(r"[\w.\[\]']*payload\.get\([^)]*\)", line):
                if (rel, hit) not in NOT_EVENTS:
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


def _sla() -> types_pb2.SlaSnapshot:
    return types_pb2.SlaSnapshot(
        level=types_pb2.ESCALATION_LEVEL_L1, policy_id="p2-vip", policy_version=3, policy_name="VIP",
        matrix_version=7, matrix_tier="vip", calendar="24x7",
        targets=[types_pb2.SlaTarget(name="first_response", duration_seconds=3600, due_at=T),
                 types_pb2.SlaTarget(name="next_update", duration_seconds=14400)])


CHANGES: dict[str, dict[str, object]] = {
    "created": {"created": ticketing_pb2.TicketCreated(
        customer_id="C-1", customer_tier=types_pb2.CUSTOMER_TIER_VIP, customer_sensitive=True,
        channel=types_pb2.CHANNEL_REGULATOR, severity=types_pb2.SEVERITY_HIGH, category="quality",
        team="care", assignee_id="a-7", first_contact_at=T, sla=_sla())},
    "updated": {"updated": ticketing_pb2.TicketUpdated(
        actor="a-7",
        changes=ticketing_pb2.TicketChanges(subject="新标题", severity=types_pb2.SEVERITY_CRITICAL,
                                            tags=ticketing_pb2.Tags(values=[]), customer_sensitive=False),
        classification=ticketing_pb2.TicketClassification(
            severity=types_pb2.SEVERITY_CRITICAL, customer_tier=types_pb2.CUSTOMER_TIER_STANDARD,
            customer_sensitive=False, channel=types_pb2.CHANNEL_PHONE))},
    "assigned": {"assigned": ticketing_pb2.TicketAssigned(actor="lead-1", team="care", reason="")},
    "contact_logged": {"contact_logged": ticketing_pb2.ContactLogged(
        contact_id=str(uuid.uuid4()), direction=ticketing_pb2.CONTACT_DIRECTION_OUTBOUND,
        channel=types_pb2.CHANNEL_WECHAT, occurred_at=T, proactive=False)},
    "progress_added": {"progress_added": ticketing_pb2.ProgressAdded(progress_id="p-1", actor="a-7")},
    "progress_viewed": {"progress_viewed": ticketing_pb2.ProgressViewed(
        viewer="customer:C-1", view_count=12, views_last_hour=6)},
    "status_changed": {"status_changed": ticketing_pb2.StatusChanged(
        action=ticketing_pb2.STATUS_ACTION_REOPENED, from_status=ticketing_pb2.TICKET_STATUS_CLOSED,
        to_status=ticketing_pb2.TICKET_STATUS_REOPENED, actor="a-7", reason="back", reopen_count=2)},
    "rated": {"rated": ticketing_pb2.TicketRated(
        rating_id="r-1", cycle=2, revision=1, score=2, source="partner", dissatisfied=True)},
}


def _event(case: str) -> ticketing_pb2.Event:
    return ticketing_pb2.Event(ticket_id=str(uuid.uuid4()), number=42, version=5,
                               status=ticketing_pb2.TICKET_STATUS_OPEN, **CHANGES[case])  # type: ignore[arg-type]


def test_every_event_type_round_trips_through_its_bytes_and_its_documented_json() -> None:
    assert set(CHANGES) == set(EVENT_TYPES.values())  # a new change needs its case here
    for case in CHANGES:
        event = _event(case)
        assert event_type(event) == f"ticket.{case}"
        assert ticketing_pb2.Event.FromString(event.SerializeToString()) == event
        body = to_json(event)
        assert from_json(event_type(event), body) == event, case
        assert to_json(from_json(event_type(event), body)) == body


def test_the_json_form_is_the_documented_one() -> None:
    assert to_json(_event("status_changed"))["action"] == "reopened"
    body = to_json(_event("created"))
    assert body["customer_tier"] == "vip" and body["channel"] == "regulator" and body["severity"] == "high"
    assert body["first_contact_at"] == "2026-12-04T09:30:15.123456+00:00"
    assert body["sla"]["level"] == "L1" and body["sla"]["targets"][1] == {
        "name": "next_update", "duration_seconds": 14400, "due_at": None}
    assert to_json(_event("updated"))["changes"] == {"subject": "新标题", "severity": "critical",
                                                     "customer_sensitive": False, "tags": []}
    assert to_json(_event("assigned"))["assignee_id"] is None
    assert to_json(_event("progress_added"))["promised_at"] is None
    assert to_json(_event("rated"))["nps"] is None
    plain = ticketing_pb2.StatusChanged(action=ticketing_pb2.STATUS_ACTION_PENDING)
    assert "reopen_count" not in to_json(ticketing_pb2.Event(status_changed=plain))


def test_the_sla_snapshot_round_trips_through_its_json_form() -> None:
    assert sla_snapshot(sla_json(_sla())) == _sla()
