"""``reopens``: a reopen with ``reopen_count`` at or above `TriggerSettings.reopen_threshold`,
+1, in the new cycle."""

from __future__ import annotations

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_escalation.escalations.triggers.base import Occasion, Proposal, Trigger


def propose(o: Occasion) -> Proposal | None:
    changed = o.event.status_changed
    if o.cycle is None or changed.action != ticketing_pb2.StatusAction.STATUS_ACTION_REOPENED:
        return None
    if changed.reopen_count < o.settings.reopen_threshold:
        return None
    return Proposal(o.cycle, "reopens", f"reopened {changed.reopen_count} times", "reopens")


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_REOPENS, "ticket.status_changed (reopened)",
                  frozenset({"status_changed"}), propose)
