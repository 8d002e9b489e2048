"""``dissatisfied_rating``: a CSAT rating at or below ticketing's threshold (``dissatisfied``)
of a resolved cycle, +1, once per rated cycle; its reason proposes reopening the ticket."""

from __future__ import annotations

from kefu.escalation.v1 import escalation_pb2
from kefu_escalation.escalations.triggers.base import Occasion, Proposal, Trigger


def propose(o: Occasion) -> Proposal | None:
    rating = o.event.rated
    if not rating.dissatisfied or rating.cycle < 1:
        return None
    source = rating.source or "customer"
    return Proposal(rating.cycle, "dissatisfied_rating",
                    f"{source} rated cycle {rating.cycle} {rating.score}/5 after resolution; "
                    "proposed: reopen the ticket", f"csat:{source}")


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_DISSATISFIED_RATING, "ticket.rated (dissatisfied)",
                  frozenset({"rated"}), propose)
