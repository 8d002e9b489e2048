"""``anxious_customer``: a progress view with ``views_last_hour`` at or above
`TriggerSettings.anxious_views`, +1, once per cycle."""

from __future__ import annotations

from kefu.escalation.v1 import escalation_pb2
from kefu_escalation.escalations.triggers.base import Occasion, Proposal, Trigger


def propose(o: Occasion) -> Proposal | None:
    views = o.event.progress_viewed.views_last_hour
    if o.cycle is None or views < o.settings.anxious_views:
        return None
    return Proposal(o.cycle, "anxious_customer", f"the customer viewed progress {views} times within an hour",
                    "progress-views")


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_ANXIOUS_CUSTOMER, "ticket.progress_viewed",
                  frozenset({"progress_viewed"}), propose)
