"""What an escalation trigger declares (one module per trigger; the registry is `__init__.py`).

A trigger names itself by its wire enum (`kefu.escalation.v1.EscalationTrigger`; rows keep the
enum's lower-case spelling), says what it reacts to and, for a ticket event, proposes an
escalation: the cycle, the de-duplication key within it, the level (an explicit one or a number
of steps up) and the reason. `Escalator` does the rest the same way for every trigger: once per
key and cycle, only upwards (else it notifies the current party), with an acknowledgement clock
and a notification.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import enum_to_str

__all__ = ["Occasion", "Proposal", "Trigger"]


@dataclass(frozen=True)
class Occasion:
    """A ticket event as the triggers see it, after the escalation's own state of the ticket
    was kept (`facts`: e.g. ``inbound_contacts`` after counting this contact)."""

    ticket_id: uuid.UUID
    event: ticketing_pb2.Event
    change: str  # the event's oneof: "created", "contact_logged", "rated", ...
    at: datetime
    cycle: int | None  # the ticket's open cycle, None if none is open
    settings: Any  # TriggerSettings (thresholds)
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    """An escalation a trigger asks for; `to_level` None means `steps` above the current level."""

    cycle: int
    key: str
    reason: str
    actor: str
    to_level: str | None = None
    steps: int = 1


@dataclass(frozen=True)
class Trigger:
    """One trigger. `reacts_to`: the ticket event changes (oneof names) whose `propose` is asked
    by `Escalator.on_inbox_event`; `fired_by` says in words who else fires it (the timer, an RPC)."""

    enum: int  # escalation_pb2.EscalationTrigger value
    fired_by: str
    reacts_to: frozenset[str] = frozenset()
    propose: Callable[[Occasion], Proposal | None] | None = None

    @property
    def name(self) -> str:
        name = enum_to_str(escalation_pb2.EscalationTrigger, self.enum)
        if name is None:
            raise ValueError(f"not an escalation trigger: {self.enum}")
        return name
