"""Reclassification (issue #14.3): a severity or customer-tier change re-resolves the matrix,
as Zendesk re-applies its SLA policy when a ticket's conditions change.

Ticketing emits the change in its outbox (`ticket.updated` with `classification`: severity,
customer tier, risk flag, channel; docs/events.md); the projection (clocks/projector.py) re-resolves the
cell with the published matrix and asks the clock model to tighten the open cycle
(`TicketClocks.reclassify`: a shorter target tightens, a longer one never loosens a target
already promised, one `reclassified` clock event either way); the escalator then applies the
rest from that event (escalations/escalator.py `on_clock_events`): a higher level escalates (trigger
`matrix`, once per cell and cycle), shorter acknowledgement and next-update targets apply from
now on, and the ticket's SLA snapshot for its next cycle (a reopen) becomes the new cell's.
A change while no cycle is open only sets that snapshot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import enum_to_str

from kefu_escalation.configuration.service import SlaAssignment, resolve_sla

__all__ = ["reclassified_sla", "snapshot"]


async def reclassified_sla(session: AsyncSession, classification: ticketing_pb2.TicketClassification,
                           first_contact_at: datetime) -> SlaAssignment:
    """The published matrix's cell for the ticket's new classification."""
    return await resolve_sla(
        session, tier=enum_to_str(types_pb2.CustomerTier, classification.customer_tier) or "standard",
        sensitive=classification.customer_sensitive,
        severity=enum_to_str(types_pb2.Severity, classification.severity) or "",
        channel=enum_to_str(types_pb2.Channel, classification.channel),
        first_contact_at=first_contact_at)


def snapshot(sla: SlaAssignment) -> dict[str, Any]:
    """An assignment as the SLA snapshot of `ticket.created` reads (what ticketing stores)."""
    return {
        "level": sla.level, "policy_id": sla.policy.id, "policy_version": sla.policy.version,
        "policy_name": sla.policy.name, "matrix_version": sla.matrix_version, "matrix_tier": sla.matrix_tier,
        "calendar": sla.policy.calendar,
        "targets": [{"name": t.name, "duration_seconds": int(t.duration.total_seconds()),
                     "due_at": t.due_at.isoformat() if t.due_at else None} for t in sla.targets],
    }
