"""``contacts``: the N-th customer-initiated contact on one ticket (the creating call is the
first; `TriggerSettings.contacts_threshold`), +1, once per cycle."""

from __future__ import annotations

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_escalation.escalations.triggers.base import Occasion, Proposal, Trigger


def propose(o: Occasion) -> Proposal | None:
    count = o.facts.get("inbound_contacts")
    if o.cycle is None or o.event.contact_logged.direction != ticketing_pb2.CONTACT_DIRECTION_INBOUND:
        return None
    if count is None or count < o.settings.contacts_threshold:
        return None
    return Proposal(o.cycle, "contacts", f"{count} customer-initiated contacts on one ticket", "contacts")


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_CONTACTS, "ticket.contact_logged (inbound)",
                  frozenset({"contact_logged"}), propose)
