"""``manual``: the green channel (`EscalateTicket`, ``POST /v1/tickets/{id}/escalate``): the
requested level or +1, key ``manual:<request id>``."""

from __future__ import annotations

from kefu.escalation.v1 import escalation_pb2
from kefu_escalation.escalations.triggers.base import Proposal, Trigger


def proposal(cycle: int, request_id: str, reason: str, actor: str, to_level: str | None) -> Proposal:
    return Proposal(cycle, f"manual:{request_id}", reason, actor or "agent", to_level=to_level)


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_MANUAL, "EscalateTicket")
