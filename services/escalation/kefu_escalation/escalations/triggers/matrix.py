"""``matrix``: the created ticket's matrix level above L0 (cycle 1, key ``matrix``); a
reclassification to a higher cell (key ``matrix:<tier>/<severity>``, see `reclassified`)."""

from __future__ import annotations

from typing import Any

from kefu.escalation.v1 import escalation_pb2
from kefu_common.protoconv import level_to_str
from kefu_escalation.escalations.levels import LEVELS
from kefu_escalation.escalations.triggers.base import Occasion, Proposal, Trigger


def propose(o: Occasion) -> Proposal | None:
    sla = o.event.created.sla
    level = level_to_str(sla.level) or "L0"
    if level not in LEVELS or level == "L0" or o.cycle is None:
        return None
    return Proposal(o.cycle, "matrix", f"matrix v{sla.matrix_version}: {sla.matrix_tier} x {o.facts['severity']}",
                    "matrix", to_level=level)


def reclassified(cycle: int, details: dict[str, Any]) -> Proposal:
    """A reclassification's higher cell (the caller checked that it is higher)."""
    tier, severity = details.get("matrix_tier"), details.get("severity")
    return Proposal(cycle, f"matrix:{tier}/{severity}",
                    f"reclassified: matrix v{details.get('matrix_version')}: {tier} x {severity}",
                    "matrix", to_level=str(details.get("level") or "L0"))


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_MATRIX, "ticket.created; a reclassification (clock event)",
                  frozenset({"created"}), propose)
