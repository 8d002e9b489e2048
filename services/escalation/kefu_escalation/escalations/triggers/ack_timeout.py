"""``ack_timeout``: the escalated party did not acknowledge in time: +1 above that party, key
``ack_timeout:<escalation id>``, fired by the acknowledgement timer."""

from __future__ import annotations

from typing import Any

from kefu.escalation.v1 import escalation_pb2
from kefu_common.timestamps import rfc3339
from kefu_escalation.escalations.triggers.base import Proposal, Trigger


def proposal(missed: Any, to_level: str) -> Proposal:
    """`missed`: the escalation row whose acknowledgement clock ran out."""
    return Proposal(missed.cycle, f"ack_timeout:{missed.id}",
                    f"{missed.to_party} did not acknowledge the {missed.trigger} escalation "
                    f"by {rfc3339(missed.ack_due_at)}", "ack-timer", to_level=to_level)


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_ACK_TIMEOUT, "the acknowledgement timer")
