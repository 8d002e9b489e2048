"""``breach``: a clock passed its due instant while the cycle is open (key ``breach:<target>``,
+1), fired by the timer and by the projection of a late answer; a missed progress update
(``breach:next_update``, the first missed window of a cycle)."""

from __future__ import annotations

from datetime import datetime

from kefu.escalation.v1 import escalation_pb2
from kefu_common.timestamps import rfc3339
from kefu_escalation.escalations.triggers.base import Trigger

NAME = "breach"
ACTOR = "sla-timer"
NEXT_UPDATE_KEY = "breach:next_update"


def key(target: str) -> str:
    return f"breach:{target}"


def reason(target: str, due_at: object) -> str:
    return f"{target} breached (due {due_at})"


def next_update_reason(due: datetime) -> str:
    return f"no customer-visible progress update by {rfc3339(due)}"


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_BREACH, "the SLA timer (a breached clock, a missed update)")
