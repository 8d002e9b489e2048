"""Escalation triggers: one module per trigger, listed once in `_MODULES` (the registry).

Adding a trigger (see docs/escalation.md "Adding a trigger"): its value in the proto enum
`kefu.escalation.v1.EscalationTrigger`, a module here that defines ``TRIGGER`` (and, for a
ticket event, its `propose`), and its name on one line of `_MODULES`.
"""

from __future__ import annotations

from importlib import import_module

from kefu_escalation.escalations.triggers.base import Occasion, Proposal, Trigger

__all__ = ["REGISTRY", "Occasion", "Proposal", "Trigger", "by_name", "reacting_to"]

_MODULES = (
    "matrix",
    "breach",
    "contacts",
    "reopens",
    "risk_signal",
    "anxious_customer",
    "manual",
    "ack_timeout",
    "dissatisfied_rating",
)

REGISTRY: tuple[Trigger, ...] = tuple(import_module(f"{__name__}.{m}").TRIGGER for m in _MODULES)
_BY_NAME = {t.name: t for t in REGISTRY}
_BY_CHANGE: dict[str, tuple[Trigger, ...]] = {}
for _t in REGISTRY:
    for _change in _t.reacts_to:
        _BY_CHANGE[_change] = (*_BY_CHANGE.get(_change, ()), _t)


def by_name(name: str) -> Trigger:
    return _BY_NAME[name]


def reacting_to(change: str) -> tuple[Trigger, ...]:
    """The triggers a ticket event change asks, in registry order."""
    return _BY_CHANGE.get(change, ())
